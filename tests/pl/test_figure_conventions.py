"""Every figure composes like scanpy's: ax= draws into given axes, save= writes under figdir."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import scvi_interpret as si
from scvi_interpret.errors import InvalidArgumentError


def _importance(modalities=("rna", "protein")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for modality in modalities:
        for i in range(6):
            value = float(rng.uniform(0.1, 1.0))
            rows.append({"target": "NK", "modality": modality, "feature": f"{modality}_{i}",
                         "mean_shap": value, "mean_abs_shap": value, "rank": i + 1})  # fmt: skip
    table = pd.DataFrame(rows)
    table.attrs["modality_keys"] = dict.fromkeys(modalities)  # as get_feature_importance sets it
    return table


def _single_panel_calls():
    rng = np.random.default_rng(1)
    loadings = pd.DataFrame(rng.normal(size=(20, 3)), index=[f"g{i}" for i in range(20)],
                            columns=["factor_0", "factor_1", "factor_2"])  # fmt: skip
    means = si.tl.group_means(rng.normal(size=(10, 3)), np.repeat(["a", "b"], 5))
    curve = pd.DataFrame({"k": [1, 2, 4], "output_top": [0.5, 0.3, 0.1],
                          "output_random": [0.9, 0.9, 0.8], "output_full": [1.0] * 3})  # fmt: skip
    share = si.tl.modality_share(_importance())
    return {
        "loadings_heatmap": lambda **kw: si.pl.loadings_heatmap(loadings, n_top=2, **kw),
        "factor_heatmap": lambda **kw: si.pl.factor_heatmap(means, **kw),
        "deletion_curve": lambda **kw: si.pl.deletion_curve(curve, **kw),
        "modality_share": lambda **kw: si.pl.modality_share(share, **kw),
    }


@pytest.mark.parametrize("name", list(_single_panel_calls()))
def test_ax_draws_into_the_given_axes(name):
    fig, (left, right) = plt.subplots(1, 2)
    result = _single_panel_calls()[name](ax=right)
    assert (result is None and right.has_data()) or right.images
    assert not left.has_data() and not left.images  # only the given axes was drawn into
    assert plt.fignum_exists(fig.number)  # the caller's figure is left open
    plt.close(fig)


def test_multi_panel_figure_takes_one_axes_per_modality():
    fig, axes = plt.subplots(1, 2)
    si.pl.feature_importance(_importance(), "NK", ax=axes)
    assert [a.get_title() for a in axes] == ["NK — rna", "NK — protein"]
    plain = pd.DataFrame(_importance())  # without attrs: sorted, the same for every target
    plain.attrs = {}
    fig2, axes2 = plt.subplots(1, 2)
    si.pl.feature_importance(plain, "NK", ax=axes2)
    assert [a.get_title() for a in axes2] == ["NK — protein", "NK — rna"]
    assert axes[0].get_legend() is not None  # says what the colours mean
    plt.close(fig2)
    with pytest.raises(InvalidArgumentError, match="2 panel"):
        si.pl.feature_importance(_importance(), "NK", ax=axes[0])
    plt.close(fig)


@pytest.fixture
def figdir(tmp_path):
    """scanpy's figure folder and format pointed at a temporary folder, then restored."""
    before = sc.settings.figdir, sc.settings.file_format_figs
    sc.settings.figdir, sc.settings.file_format_figs = tmp_path, "png"
    yield tmp_path
    sc.settings.figdir, sc.settings.file_format_figs = before


def test_save_follows_scanpy(figdir):
    tmp_path = figdir
    calls = _single_panel_calls()
    calls["deletion_curve"](save=True, show=False)
    assert (tmp_path / "deletion_curve.png").stat().st_size > 1000
    calls["factor_heatmap"](save="_groups.pdf", show=False)  # a suffix, as in scanpy
    assert (tmp_path / "factor_heatmap_groups.pdf").is_file()
    elsewhere = tmp_path / "sub" / "mine.svg"
    calls["modality_share"](save=elsewhere, show=False)  # a path with a folder: as given
    assert elsewhere.is_file()
    assert calls["loadings_heatmap"](save=True, return_fig=True) is not None


def test_factor_heatmap_reads_an_anndata_like_scanpy(small_linear_vi):
    model, adata = small_linear_vi
    data = adata.copy()
    model.get_latent_representation(data, key_added="X_linearvi")
    data.obs["cell_type"] = data.obs["cell_type"].astype("category")
    categories = list(data.obs["cell_type"].cat.categories)
    data.uns["cell_type_colors"] = ["#ff0000"] + ["#0000ff"] * (len(categories) - 1)
    fig = si.pl.factor_heatmap(data, groupby="cell_type", basis="X_linearvi",
                               return_fig=True, show=False)  # fmt: skip
    expected = si.tl.group_means(data.obsm["X_linearvi"], data.obs["cell_type"].to_numpy())
    image = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(np.asarray(image), expected.to_numpy())
    colours = {t.get_text(): t.get_color() for t in fig.axes[0].get_yticklabels()}
    assert colours[categories[0]] == "#ff0000"
    with pytest.raises(InvalidArgumentError, match="groupby="):
        si.pl.factor_heatmap(data, basis="X_linearvi")
    plt.close(fig)


def test_archetypes_reads_an_anndata_like_scanpy(small_linear_vi):
    model, adata = small_linear_vi
    data = adata.copy()
    model.get_archetypes(n_archetypes=3, adata=data, key_added="archetypes")
    data.obs["cell_type"] = data.obs["cell_type"].astype("category")
    categories = list(data.obs["cell_type"].cat.categories)
    data.uns["cell_type_colors"] = ["#00ff00"] * len(categories)
    fig, (left, right) = plt.subplots(1, 2)
    si.pl.archetypes(data, groupby="cell_type", basis="archetypes", ax=right, show=False)
    weights = data.obsm["archetypes"]
    expected = [weights[(data.obs["cell_type"] == c).to_numpy()].mean(0) for c in categories]
    np.testing.assert_allclose(np.asarray(right.images[0].get_array()), np.array(expected))
    assert [t.get_text() for t in right.get_xticklabels()] == data.uns["archetypes"]["columns"]
    assert {t.get_color() for t in right.get_yticklabels()} == {"#00ff00"}
    assert not left.images
    plt.close(fig)
