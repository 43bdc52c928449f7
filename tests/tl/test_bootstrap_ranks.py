"""Rank intervals and top-k stability of AttributionSums against numpy's definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import scvi_interpret as si


def _filled_sums(per_cell_target: bool) -> si.tl.AttributionSums:
    torch.manual_seed(0)
    n_targets, n_features = 5, 300
    sums = si.tl.AttributionSums(
        n_targets=n_targets,
        n_features=n_features,
        per_cell_target=per_cell_target,
        n_bootstrap=50,
        seed=3,
    )
    for _ in range(4):
        phi = torch.randn(64, 1 if per_cell_target else n_targets, n_features)
        phi = phi * torch.rand(n_features)  # features of different importance
        chosen = torch.randint(0, n_targets, (64,)) if per_cell_target else None
        sums.add(phi, phi.sum(-1), torch.zeros(64, phi.shape[1]), chosen=chosen)
    return sums


def _replicate_ranks(sums: si.tl.AttributionSums) -> np.ndarray:
    """Rank of each feature in each bootstrap replicate by a full sort, (B, targets, features)."""
    means = (sums.boot_abs_sums / sums.boot_counts.clamp(min=1)[:, :, None]).numpy()
    order = np.argsort(-means, axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, means.shape[-1] + 1)[None, None], axis=-1)
    return ranks


@pytest.mark.parametrize("per_cell_target", [False, True])
def test_rank_intervals_and_stability_match_numpy(per_cell_target):
    sums = _filled_sums(per_cell_target)
    ranks = _replicate_ranks(sums)
    low, high = sums.rank_intervals()
    np.testing.assert_array_equal(low, np.floor(np.percentile(ranks, 2.5, axis=0)))
    np.testing.assert_array_equal(high, np.ceil(np.percentile(ranks, 97.5, axis=0)))
    for k in (1, 10, 50):
        point = np.argsort(-sums.mean_abs_shap(), axis=1)[:, :k]
        expected = (np.take_along_axis(ranks, point[None], axis=-1) <= k).mean(axis=(0, 2))
        np.testing.assert_allclose(sums.top_k_stability(k), expected)
    assert (low <= high).all() and 0 < sums.top_k_stability(10).min() <= 1
