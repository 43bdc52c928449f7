import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch

import scvi_interpret as si
from scvi_interpret.tl import expected_gradients, linear_shap, stratified_background

FEATURES = [f"f{i}" for i in range(6)]


def exact_shapley(f, x: torch.Tensor, background: torch.Tensor) -> np.ndarray:
    """Interventional Shapley values by subset enumeration: (n_targets, n_features)."""
    n = x.shape[0]
    value = {}
    for size in range(n + 1):
        for subset in itertools.combinations(range(n), size):
            keep = torch.zeros(n, dtype=torch.bool)
            keep[list(subset)] = True
            with torch.no_grad():
                value[subset] = f(torch.where(keep, x, background)).mean(0).numpy()
    phi = np.zeros((len(value[()]), n))
    for j in range(n):
        for subset in value:
            if j in subset:
                continue
            with_j = tuple(sorted((*subset, j)))
            weight = math.factorial(len(subset)) * math.factorial(n - len(subset) - 1)
            phi[:, j] += weight / math.factorial(n) * (value[with_j] - value[subset])
    return phi


@pytest.fixture
def data():
    gen = torch.Generator().manual_seed(0)
    background = torch.randn(40, 6, generator=gen)
    cells = torch.randn(5, 6, generator=gen) * 1.5
    return cells, background


def small_net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    ).eval()


def test_linear_closed_form_and_estimate_equal_exact_shapley(data):
    cells, background = data
    weight = torch.randn(3, 6, generator=torch.Generator().manual_seed(1))

    def f(x):
        return x @ weight.T + 0.5

    closed = linear_shap(weight, cells, background.mean(0)).numpy()
    estimate = expected_gradients(
        f, cells, background, ["a", "b", "c"], FEATURES, n_samples=400, keep_values=True
    )
    for i, cell in enumerate(cells):
        exact = exact_shapley(f, cell, background)
        np.testing.assert_allclose(closed[i], exact, atol=1e-5)
        r = np.corrcoef(estimate.values[i].ravel(), exact.ravel())[0, 1]
        assert r > 0.99
    assert estimate.additivity_error < 0.05


def test_nonlinear_net_estimate_tracks_exact_shapley(data):
    cells, background = data
    net = small_net()
    estimate = expected_gradients(
        net, cells, background, ["a", "b", "c"], FEATURES, n_samples=2000, keep_values=True
    )
    exact = np.stack([exact_shapley(net, cell, background) for cell in cells])
    r = np.corrcoef(estimate.values.ravel(), exact.ravel())[0, 1]
    assert r > 0.95, r
    assert estimate.additivity_error < 0.05
    # the values sum to f(x) minus the base value
    np.testing.assert_allclose(
        estimate.values.sum(-1), estimate.outputs - estimate.base_values, atol=0.05
    )


def test_agrees_with_shap_gradient_explainer(data):
    import shap

    cells, background = data
    net = small_net(3)
    ours = expected_gradients(
        net, cells, background, ["a", "b", "c"], FEATURES, n_samples=2000, keep_values=True
    )
    explainer = shap.GradientExplainer(net, background)
    theirs = np.stack(explainer.shap_values(cells, nsamples=2000, rseed=0), axis=0)
    theirs = theirs if theirs.shape == (5, 6, 3) else np.moveaxis(theirs, 0, -1)
    r = np.corrcoef(ours.values.transpose(0, 2, 1).ravel(), theirs.ravel())[0, 1]
    assert r > 0.98, r


def test_streaming_means_and_covariates_held_fixed(data):
    cells, background = data
    net = small_net(4)
    offsets = torch.tensor([[0.0, 0.0, 0.0], [5.0, -5.0, 2.0]])

    def f(x, group):
        return net(x) + offsets[group.reshape(-1)]

    groups = torch.tensor([0, 1, 1, 0, 1])
    batches = [(cells[:3], {"group": groups[:3]}), (cells[3:], {"group": groups[3:]})]
    result = expected_gradients(
        f, batches, background, ["a", "b", "c"], FEATURES, n_samples=1000, keep_values=True
    )
    np.testing.assert_allclose(result.mean_shap, result.values.mean(0), atol=1e-6)
    np.testing.assert_allclose(result.mean_abs_shap, np.abs(result.values).mean(0), atol=1e-6)
    # the group offset is no feature: it is in the base value, not in the SHAP values
    assert result.additivity_error < 0.05
    assert result.base_values[1, 0] - result.base_values[0, 0] == pytest.approx(5.0, abs=1e-4)
    explanation = result.to_explanation()
    assert explanation.values.shape == (5, 6, 3)
    assert explanation[:, :, 0].values.shape == (5, 6)


def test_to_frame_is_tidy_and_ranked():
    attribution = si.tl.FeatureAttribution(
        targets=["t1", "t2"],
        features=["g1", "g2", "g3"],
        mean_shap=np.array([[0.1, -0.5, 0.2], [0.0, 0.3, -0.9]]),
        mean_abs_shap=np.array([[0.1, 0.5, 0.2], [0.05, 0.3, 0.9]]),
        expected_value=np.zeros(2),
        additivity_error=0.0,
        n_cells=3,
    )
    frame = attribution.to_frame("rna")
    assert list(frame.columns) == [
        "target", "modality", "feature", "mean_shap", "mean_abs_shap", "rank", "modality_rank",
        "n_cells",
    ]  # fmt: skip
    assert frame["feature"].tolist() == ["g2", "g3", "g1", "g3", "g2", "g1"]
    assert frame["rank"].tolist() == [1, 2, 3, 1, 2, 3]
    # one modality per feature: ranks within the target's features of each modality
    mixed = attribution.to_frame(["rna", "protein", "protein"])
    assert mixed["modality"].tolist() == ["protein", "protein", "rna"] * 2
    assert mixed["modality_rank"].tolist() == [1, 2, 1, 1, 2, 1]
    with pytest.raises(ValueError, match="modality names"):
        attribution.to_frame(["rna"])
    with pytest.raises(ValueError, match="keep_values"):
        attribution.to_explanation()


def test_stratified_background_covers_every_label():
    labels = np.array(["a"] * 90 + ["b"] * 9 + ["c"] * 1)
    picks = stratified_background(labels, len(labels), 10, seed=0)
    assert len(picks) == 10 and len(set(picks)) == 10
    assert set(labels[picks]) == {"a", "b", "c"}
    assert (labels[picks] == "a").sum() >= 7
    with pytest.raises(ValueError, match="larger than the 100 cells"):
        stratified_background(labels, len(labels), 101)
    assert pd.Index(stratified_background(None, 50, 5)).is_unique


def test_direction_says_whether_high_or_low_values_push_the_target_up():
    """Planted: the target rises with feature a and falls with b; c does not matter."""
    weights = torch.tensor([[2.0], [-1.0], [0.0]])
    inputs = torch.randn(200, 3, generator=torch.Generator().manual_seed(0))
    result = si.tl.expected_gradients(
        lambda x: x @ weights, inputs, torch.zeros(20, 3), targets=["t"],
        features=["a", "b", "c"], n_samples=8,
    )  # fmt: skip
    frame = result.to_frame("rna").set_index("feature")
    assert frame.loc["a", "direction"] == "high" and frame.loc["b", "direction"] == "low"
    assert frame.loc["c", "direction"] == "none"
    np.testing.assert_allclose(frame.loc[["a", "b"], "value_shap_correlation"], [1.0, -1.0],
                               atol=1e-6)  # fmt: skip
    # one target per cell: each target's correlation is over its own cells only
    two = torch.tensor([[1.0, -1.0], [0.0, 0.0], [0.0, 0.0]])
    chosen = (inputs[:, 0] > 0).long()
    per_cell = si.tl.expected_gradients(
        lambda x: x @ two,
        [(inputs, {"target": chosen})],
        torch.zeros(20, 3),
        targets=["up", "down"],
        features=["a", "b", "c"],
        n_samples=8,
        target_key="target",
    )
    table = per_cell.to_frame("rna").query("feature == 'a'").set_index("target")
    assert table.loc["up", "direction"] == "high" and table.loc["down", "direction"] == "low"
