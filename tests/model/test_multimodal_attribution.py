"""Interpretability of MultimodalClassifier: planted markers in two modalities, cross-modal
targets, absent modalities, traversal and archetypes."""

from __future__ import annotations

import numpy as np
import pytest

from scvi_interpret.model import MultimodalClassifier
from synthetic_multimodal import (
    CLASSES,
    atac_markers,
    fit_classifier,
    rna_markers,
    simulate_multiome,
)

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def multiome():
    mdata = simulate_multiome(seed=1)
    model = fit_classifier(mdata, {"rna": "rna", "atac": "atac"}, 30, n_latent=8, n_hidden=32)
    return model, mdata


def test_planted_markers_rank_on_top_in_each_modality(multiome):
    model, _ = multiome
    cells = np.arange(0, 450, 3)
    table = model.get_feature_importance(indices=cells)
    assert table.attrs["median_additivity_error"] < 0.05
    assert sum(table.attrs["n_cells_per_target"].values()) == len(cells)
    # a class no explained cell is predicted as gets no rows (not a ranking of zeros)
    one_class = model.get_feature_importance(indices=cells[:3], n_background=5, n_samples=10)
    assert set(one_class["target"]) == set(model.predict().iloc[cells[:3]])
    for label in CLASSES:
        rows = table[table["target"] == label]
        for modality, markers in (("rna", rna_markers(label)), ("atac", atac_markers(label))):
            top = rows[(rows["modality"] == modality) & (rows["modality_rank"] <= 5)]
            assert len(set(top["feature"]) & set(markers)) >= 4, (label, modality)
    share = table.attrs["modality_share"]
    assert all(abs(sum(v.values()) - 1) < 1e-6 for v in share.values())


def test_named_classes_and_explanations_per_modality(multiome):
    model, mdata = multiome
    cells = np.arange(0, 450, 15)
    table, explanations = model.get_feature_importance(
        indices=cells, target=["alpha", "gamma"], return_explanation=True, key_added="shap_ag"
    )
    assert set(table["target"]) == {"alpha", "gamma"} and np.isfinite(table["mean_shap"]).all()
    assert set(explanations) == {"rna", "atac"}
    rna, atac = explanations["rna"], explanations["atac"]
    assert rna.values.shape == (len(cells), 60, 2) and atac.values.shape == (len(cells), 90, 2)
    assert list(rna.feature_names[:2]) == ["gene_0", "gene_1"]
    # SHAP values of both modalities add up to the log odds minus the base value (up to the
    # quadrature error, larger here than on real data: this classifier's log odds reach ±28)
    logits = model._logits(model._cells(mdata), cells, calibrated=True)[:, [0, 2]]  # alpha, gamma
    full = model._logits(model._cells(mdata), cells, calibrated=True)
    others = [np.logaddexp.reduce(np.delete(full, k, axis=1), axis=1) for k in (0, 2)]
    log_odds = logits - np.stack(others, axis=1)
    gap = log_odds - rna.base_values
    total = rna.values.sum(1) + atac.values.sum(1)
    assert np.median(np.abs(total - gap) / np.abs(gap)) < 0.1
    assert mdata.mod["rna"].varm["shap_ag"].shape == (60, 2)
    assert mdata.mod["atac"].varm["shap_ag"].shape == (90, 2)
    assert mdata.uns["shap_ag"]["output"] is None
    probability = model.get_feature_importance(indices=cells, target="alpha",
                                               output="probability")  # fmt: skip
    assert probability["mean_abs_shap"].sum() <= 1.0 + 1e-6  # probabilities move by ≤ 1


def test_cross_modal_target_is_explained_by_the_other_modality(multiome):
    model, _ = multiome
    table = model.get_feature_importance(indices=np.arange(0, 450, 5), target="rna:gene_0")
    assert set(table["modality"]) == {"atac"} and table["target"].iloc[0] == "rna:gene_0"
    top = table.nsmallest(5, "rank")["feature"]
    assert len(set(top) & set(atac_markers("alpha"))) >= 4
    with pytest.raises(KeyError, match="not modalities of this model"):
        model.get_feature_importance(target="rna:gene_0", modalities=["rna"])
    with pytest.raises(ValueError, match="class targets only"):
        model.get_feature_importance(target="rna:gene_0", output="probability")


def test_bad_attribution_requests(multiome):
    model, _ = multiome
    with pytest.raises(KeyError, match="Unknown target"):
        model.get_feature_importance(target="delta")
    with pytest.raises(KeyError, match="not features of modality"):
        model.get_feature_importance(target="atac:gene_0")
    with pytest.raises(KeyError, match="not modalities of this model"):
        model.get_feature_importance(modalities=["protein"])
    with pytest.raises(ValueError, match="n_background"):
        model.get_feature_importance(n_background=451)
    with pytest.raises(IndexError, match="indices"):
        model.get_feature_importance(indices=[0, 450])
    with pytest.raises(ValueError, match="output must be one of"):
        model.get_feature_importance(output="logits")


def test_attributing_one_modality_holds_the_other(multiome):
    model, _ = multiome
    beta_cells = np.arange(150, 300, 3)
    table = model.get_feature_importance(indices=beta_cells, target="beta", modalities="atac")
    assert set(table["modality"]) == {"atac"}
    assert len(set(table.nsmallest(5, "rank")["feature"]) & set(atac_markers("beta"))) >= 4


def test_trust_tools_on_a_class(multiome):
    model, _ = multiome
    curve = model.deletion_curve("alpha", indices=np.arange(0, 150, 3), ks=(5, 10),
                                 n_random=3)  # fmt: skip
    assert (curve["output_top"] < curve["output_random"]).all()
    check = model.randomization_check(target="alpha", indices=np.arange(0, 450, 9))
    assert check["passed"].all()


def test_absent_modality_gets_no_attribution(data_dir):
    import scvi_interpret as si

    mdata = MultimodalClassifier.align_mudata(si.datasets.pbmc_mosaic(data_dir))
    model = fit_classifier(mdata, {"rna": "rna", "protein": "adt"}, 10, n_latent=10,
                           n_hidden=64)  # fmt: skip
    rna_only = np.flatnonzero(mdata.obs["batch"] == "p1_0")[:20]
    adt_only = np.flatnonzero(mdata.obs["batch"] == "p2_0")[:20]
    table, explanations = model.get_feature_importance(
        indices=np.concatenate([rna_only, adt_only]), return_explanation=True
    )
    assert np.all(explanations["protein"].values[:20] == 0)
    assert np.all(explanations["rna"].values[20:] == 0)
    assert np.abs(explanations["rna"].values[:20]).sum() > 0
    assert table.attrs["median_additivity_error"] < 0.05


def test_traversal_and_archetypes_decode_every_modality(multiome):
    model, mdata = multiome
    traversal = model.latent_traversal(dims=["latent_0", "latent_1"], n_steps=5)
    assert set(traversal["modality"]) == {"rna", "atac"}
    archetypes = model.get_archetypes(n_archetypes=3)
    assert set(archetypes.top_features["modality"]) == {"rna", "atac"}
    assert archetypes.weights.shape == (mdata.n_obs, 3)
    # each class is dominated by its own archetype
    dominant = archetypes.label_association.idxmax(axis=1)
    assert dominant.nunique() == 3
