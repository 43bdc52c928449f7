"""The binary (thresholded Poisson) likelihood of ATAC peaks, and its choice by data type."""

from __future__ import annotations

import numpy as np
import torch

import scvi_interpret as si
from scvi_interpret.model.multimodal_classifier._model import default_likelihood


def test_equals_a_bernoulli_with_complementary_log_log_link():
    generator = torch.Generator().manual_seed(0)
    rate = torch.rand(30, 50, generator=generator) * 3 + 1e-4
    x = (torch.rand(30, 50, generator=generator) < 0.2).float()
    expected = torch.distributions.Bernoulli(probs=1 - torch.exp(-rate)).log_prob(x)
    torch.testing.assert_close(si.nn.binary_poisson_log_prob(x, rate), expected)


def test_gradient_matches_the_dense_formula():
    generator = torch.Generator().manual_seed(1)
    x = (torch.rand(20, 40, generator=generator) < 0.1).float()
    rate = (torch.rand(20, 40, generator=generator) + 0.05).requires_grad_(True)
    si.nn.binary_poisson_log_prob(x, rate).sum().backward()
    expected = torch.where(x > 0, torch.exp(-rate) / -torch.expm1(-rate), -torch.ones_like(rate))
    torch.testing.assert_close(rate.grad, expected.detach())


def test_tiny_rate_at_an_open_peak_is_finite():
    value = si.nn.binary_poisson_log_prob(torch.ones(1), torch.zeros(1))
    assert torch.isfinite(value).all() and value.item() < -10


def test_default_likelihood_by_data_type():
    assert default_likelihood("atac", {"max_count": 1.0}) == "bernoulli"
    assert default_likelihood("peaks", {"max_count": 1.0}) == "bernoulli"  # any binary modality
    assert default_likelihood("atac", {"max_count": 7.0}) == "poisson"  # fragment counts
    assert default_likelihood("rna", {"max_count": 250.0}) == "nb"
    assert default_likelihood("rna", {"max_count": 0.0}) == "nb"  # all-zero: not binary
    assert default_likelihood("atac", {"max_count": None}) == "poisson"  # older registries
    assert default_likelihood("atac", None) == "poisson"
    assert np.isclose(si.nn.binary_poisson_log_prob(torch.zeros(1), torch.ones(1)).item(), -1.0)
