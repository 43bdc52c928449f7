"""Global importance from a stratified sample: agreement with the full pass, honest intervals."""

import numpy as np
import pytest
import torch

from scvi_interpret.model import LinearVI

TRAIN = {"train_size": 1.0, "enable_progress_bar": False}
FAST = {"n_background": 10, "n_samples": 20}
PLANTED = ["LYZ", "S100A9", "CD74", "NKG7", "GNLY", "CCL5", "IL7R", "MS4A1"]


@pytest.fixture(scope="module")
def planted_model(liu_rna):
    """LinearVI on 1,800 Liu cells whose factor_0 reads only the PLANTED genes.

    The encoder is trained, then hidden units 0–7 are rewired to read only the planted genes
    and factor_0 only those units: its SHAP values are exactly zero on every other gene, so
    its true top 8 is known.
    """
    adata = liu_rna.copy()
    LinearVI.setup_anndata(adata, batch_key="batch")
    model = LinearVI(adata, n_latent=6, n_hidden=32)
    model.train(max_epochs=2, **TRAIN)
    genes = [list(adata.var_names).index(g) for g in PLANTED]
    encoder = model.module.z_encoder
    first = encoder.encoder.fc_layers[0][0]
    with torch.no_grad():
        keep = torch.zeros_like(first.weight[:8])
        keep[:, genes] = torch.linspace(1.0, 2.0, 8)[:, None] * torch.eye(8)
        first.weight[:8] = keep
        encoder.mean_encoder.weight[0] = 0.0
        encoder.mean_encoder.weight[0, :8] = 1.0
    return model, adata


def test_sampled_ranking_recovers_planted_genes_and_agrees_with_full_pass(planted_model):
    model, adata = planted_model
    sampled = model.get_feature_importance(max_cells=800, **FAST)
    full = model.get_feature_importance(n_cells="all", **FAST)
    sampling = sampled.attrs["sampling"]
    assert sampling["n_cells"] < adata.n_obs and sampling["strata"][-1] == "batch"
    assert (sampled["n_cells"] == sampling["n_cells"]).all()
    assert full.attrs["sampling"]["n_cells"] == adata.n_obs
    top = sampled.query("target == 'factor_0' and rank <= 8")
    assert set(top["feature"]) == set(PLANTED)
    for target in sampled["target"].unique():
        ours = sampled.query("target == @target and rank <= 20").set_index("feature")
        truth = full.query("target == @target").set_index("feature")["rank"]
        overlap = len(set(ours.index) & set(truth[truth <= 20].index)) / 20
        assert overlap >= 0.7, (target, overlap)
        inside = (ours["rank_ci_low"] <= truth[ours.index]) & (
            truth[ours.index] <= ours["rank_ci_high"]
        )
        assert inside.mean() >= 0.7, (target, inside.mean())


def test_rank_intervals_shrink_with_more_cells(planted_model):
    model, _ = planted_model
    widths = []
    for n_cells in (150, 1200):
        table = model.get_feature_importance(n_cells=n_cells, **FAST)
        assert table.attrs["sampling"]["n_cells"] == n_cells
        top = table[table["rank"] <= 20]
        widths.append(float((top["rank_ci_high"] - top["rank_ci_low"]).mean()))
    assert widths[1] < 0.7 * widths[0], widths


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"n_cells": 0}, ValueError, "at least one cell"),
        ({"n_cells": -5}, ValueError, "at least one cell"),
        ({"n_cells": 1801}, ValueError, "more than the 1800 cells"),
        ({"n_cells": "most"}, ValueError, '"auto", "all"'),
        ({"n_cells": 2.5}, TypeError, "whole number"),
        ({"n_cells": 100, "indices": [0, 1]}, ValueError, "pass one of the two"),
        ({"max_cells": 0}, ValueError, "max_cells"),
        ({"top_k": 0}, ValueError, "top_k"),
        ({"stability": 1.5}, ValueError, "stability"),
    ],
)
def test_bad_sample_sizes_are_named_before_anything_is_written(
    planted_model, settings, error, message
):
    model, adata = planted_model
    with pytest.raises(error, match=message):
        model.get_feature_importance(key_added="imp", **settings)
    assert "imp" not in adata.varm and "imp" not in adata.uns


def test_randomization_check_samples_cells(planted_model):
    model, _ = planted_model
    check = model.randomization_check(target="factor_0", n_cells=200, **FAST)
    assert check.attrs["n_cells"] == 200
    curve = model.deletion_curve("factor_0", n_cells=40, ks=(2, 8), **FAST)
    assert curve.attrs["n_cells"] == 40
    # the planted factor reads 8 genes: removing them must lower it more than random genes
    assert (curve["output_top"] < curve["output_random"]).all()
    with pytest.raises(ValueError, match="at least one cell"):
        model.randomization_check(target="factor_0", n_cells=0)


def test_traversal_range_from_a_sample(planted_model):
    model, _ = planted_model
    table = model.latent_traversal(dims="factor_0", n_cells=500)
    assert table.attrs["n_cells"] == 500
    full = model.latent_traversal(dims="factor_0")
    assert full.attrs["n_cells"] == 1800
    # the range from 500 cells walks nearly the same way as the range from all cells
    change = table.set_index("feature")["log2_fold_change"]
    reference = full.set_index("feature")["log2_fold_change"].reindex(change.index)
    assert np.corrcoef(change, reference)[0, 1] > 0.95
    with pytest.raises(ValueError, match="more than the 1800 cells"):
        model.latent_traversal(dims="factor_0", n_cells=5000)
