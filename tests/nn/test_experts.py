"""Product of experts and modality dropout."""

from __future__ import annotations

import torch

from scvi_interpret.nn import drop_modalities, product_of_experts


def test_product_of_experts_uses_only_present_modalities():
    means = torch.tensor([[[2.0, -1.0]], [[10.0, 10.0]]])  # 2 modalities, 1 cell, 2 dims
    variances = torch.tensor([[[0.5, 0.25]], [[0.1, 0.1]]])
    mean, variance = product_of_experts(means, variances, torch.tensor([[1.0, 0.0]]))
    # expert 0 with the N(0, 1) prior: precision 1 + 1/v, mean (m/v) / precision
    torch.testing.assert_close(variance, torch.tensor([[1 / 3, 1 / 5]]))
    torch.testing.assert_close(mean, torch.tensor([[4 / 3, -4 / 5]]))
    both, _ = product_of_experts(means, variances, torch.tensor([[1.0, 1.0]]))
    # precision-weighted: (2/0.5 + 10/0.1) / (1 + 2 + 10), the confident expert dominates
    torch.testing.assert_close(both[0, 0], torch.tensor(8.0))
    none, none_variance = product_of_experts(means, variances, torch.tensor([[0.0, 0.0]]))
    torch.testing.assert_close(none, torch.zeros(1, 2))
    torch.testing.assert_close(none_variance, torch.ones(1, 2))


def test_modality_dropout_keeps_a_proper_non_empty_subset():
    generator = torch.Generator().manual_seed(0)
    present = torch.tensor([[1.0, 1.0, 1.0]] * 500 + [[1.0, 0.0, 0.0]] * 100)
    used = drop_modalities(present, 0.5, generator)
    assert torch.all(used <= present)
    assert torch.all(used.sum(1) >= 1)
    assert torch.equal(used[500:], present[500:])  # single-modality cells keep theirs
    dropped = (used[:500].sum(1) < 3).float().mean()
    assert 0.4 < dropped < 0.6
    assert torch.equal(drop_modalities(present, 0.0), present)
