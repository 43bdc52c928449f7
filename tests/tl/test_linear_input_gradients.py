"""Expected gradients on first-layer pre-activations equal the plain path, draw for draw."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import scvi_interpret as si
from scvi_interpret.model.base._interpretability import PER_CELL_TARGET


def _network(n_features=(40, 25), n_hidden=(16, 8), n_targets=3, seed=0):
    """Two input blocks → linear maps → LayerNorm/ReLU → a head; a per-cell covariate shift."""
    generator = torch.Generator().manual_seed(seed)
    weights = [torch.randn(h, f, generator=generator) / f**0.5 for f, h in
               zip(n_features, n_hidden, strict=True)]  # fmt: skip
    head = torch.randn(sum(n_hidden), n_targets, generator=generator)
    norm = torch.nn.LayerNorm(sum(n_hidden))
    edges = np.cumsum((0, *n_features))
    blocks = [(slice(int(a), int(b)), w) for a, b, w in zip(edges[:-1], edges[1:], weights,
                                                             strict=True)]  # fmt: skip

    def rest(hidden, shift):
        return torch.relu(norm(hidden + shift)) @ head

    def fn(x, shift):
        return rest(torch.cat([x[:, c] @ w.T for c, w in blocks], dim=1), shift)

    return fn, si.tl.LinearInput(blocks, rest), int(edges[-1])


@pytest.mark.parametrize("n_samples", [40, 30])  # quadrature (2 × 20 background), stratified
@pytest.mark.parametrize("sparse", [True, False])  # sparse map (counts) or dense background
@pytest.mark.parametrize("per_cell", [False, True])
def test_fast_path_equals_plain_path(n_samples, sparse, per_cell):
    fn, linear_input, n_features = _network()
    generator = torch.Generator().manual_seed(1)
    draw = lambda n: torch.poisson(torch.full((n, n_features), 0.1), generator=generator)  # noqa: E731
    cells = torch.log1p(draw(12)) if sparse else torch.rand(12, n_features, generator=generator)
    background = torch.log1p(draw(20)) if sparse else torch.rand(20, n_features)
    extra = {"shift": torch.randn(12, 24, generator=generator)}
    if per_cell:
        extra[PER_CELL_TARGET] = torch.arange(12) % 3
    names = {"targets": ["a", "b", "c"], "features": [f"f{i}" for i in range(n_features)]}
    settings = {"n_samples": n_samples, "keep_values": True,
                "target_key": PER_CELL_TARGET if per_cell else None}  # fmt: skip
    plain, fast = (
        si.tl.expected_gradients(
            fn, [(cells, extra)], background, **names, **settings, linear_input=first
        )
        for first in (None, linear_input)
    )
    np.testing.assert_allclose(fast.values, plain.values, atol=2e-6, rtol=1e-4)
    np.testing.assert_allclose(fast.expected_value, plain.expected_value, rtol=1e-5)
    assert fast.additivity_error == pytest.approx(plain.additivity_error, rel=1e-3, abs=1e-6)
    assert np.abs(plain.values).max() > 1e-2  # not trivially zero


def test_classifier_importance_is_the_same_on_both_paths(small_classifier):
    """On the mosaic classifier (RNA + ADT, LayerNorm encoders, batch one-hot, PoE)."""
    model, mdata = small_classifier
    cells = model._cells(mdata)
    plan = model._attribution_plan(None, None, "log1p")
    assert plan.linear_input is not None
    indices = np.arange(0, mdata.n_obs, 9)
    background = model._background(cells, plan, 10, 0)
    results = []
    with model._eval_mode():
        for fast in (None, plan.linear_input):
            results.append(si.tl.expected_gradients(
                plan.function, plan.inputs(cells, indices, 32), background,
                targets=plan.targets, features=plan.features, n_samples=20, keep_values=True,
                target_key=PER_CELL_TARGET, linear_input=fast,
            ))  # fmt: skip
    plain, fast = results
    np.testing.assert_allclose(fast.values, plain.values, atol=1e-5, rtol=1e-3)
    assert np.abs(plain.values).max() > 1e-3
    # the encoders got their own first layers back
    assert all(type(model.module.encoders[m].encoder.fc_layers[0][0]) is torch.nn.Linear
               for m in model.module.modalities)  # fmt: skip
