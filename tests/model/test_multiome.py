"""MultimodalClassifier on real 10x Multiome (RNA + binary ATAC peaks): train, map, explain."""

from __future__ import annotations

import mudata as md
import numpy as np
import pytest
import scvi
import torch
from scipy import sparse
from sklearn.metrics import roc_auc_score

import scvi_interpret as si
from scvi_interpret.model import MultimodalClassifier

pytestmark = pytest.mark.filterwarnings("ignore")
MODALITIES = {"rna": "rna", "atac": "atac"}
MARKERS = {
    "CD14+ Mono": {"CD14", "LYZ", "S100A8", "S100A9", "VCAN", "FCN1", "CSF3R"},
    "Naive CD20+ B": {"MS4A1", "CD79A", "BANK1", "PAX5"},
    "NK": {"NKG7", "GNLY", "KLRD1", "PRF1"},
    "Erythroblast": {"HBB", "HBA1", "HBA2", "HBM", "GYPA"},
    "CD8+ T": {"CD8A", "CD8B", "CCL5", "GZMK"},
}


def _part(mdata: md.MuData, cells: np.ndarray, modalities=("rna", "atac")) -> md.MuData:
    part = md.MuData({m: mdata.mod[m][cells].copy() for m in modalities})
    part.obs = mdata.obs.iloc[cells][["cell_type", "batch"]].copy()
    part.obs["batch"] = part.obs["batch"].astype(str).astype("category")
    part.obs["cell_type"] = part.obs["cell_type"].astype(str).astype("category")
    return part


@pytest.fixture(scope="module")
def multiome(data_dir):
    """Reference: 1,600 cells of sites 1–2; query: 400 cells of site 4 (labels hidden)."""
    mdata = si.datasets.bmmc_multiome(data_dir)
    rng = np.random.default_rng(0)
    sites = mdata.obs["batch"].to_numpy()
    reference_cells = np.sort(rng.choice(np.flatnonzero(np.isin(sites, ["site1", "site2"])),
                                         1600, replace=False))  # fmt: skip
    query_cells = np.sort(rng.choice(np.flatnonzero(sites == "site4"), 400, replace=False))
    reference = _part(mdata, reference_cells)
    query = _part(mdata, query_cells)
    query.obs["truth"] = query.obs["cell_type"].astype(str)
    query.obs["cell_type"] = "Unknown"
    scvi.settings.seed = 0
    MultimodalClassifier.setup_mudata(reference, labels_key="cell_type", batch_key="batch",
                                      modalities=MODALITIES)  # fmt: skip
    model = MultimodalClassifier(reference, n_latent=16, n_hidden=64)
    model.train(max_epochs=15, enable_progress_bar=False)
    return model, reference, query


def test_binary_peaks_get_the_bernoulli_likelihood(multiome):
    model, reference, _ = multiome
    assert model.module.likelihoods == {"rna": "nb", "atac": "bernoulli"}
    assert set(np.unique(reference["atac"].X.data)) == {1.0}


@pytest.mark.parametrize("query_modalities", [("rna", "atac"), ("rna",), ("atac",)])
def test_query_with_both_one_or_the_other_modality_maps(multiome, query_modalities):
    """A paired, an RNA-only and an ATAC-only query map through load_query_data."""
    model, _, query = multiome
    kept = md.MuData({m: query.mod[m].copy() for m in query_modalities})
    kept.obs = query.obs.copy()
    prepared = MultimodalClassifier.prepare_query_mudata(kept, model)
    query_model = MultimodalClassifier.load_query_data(prepared, model)
    assert query_model.module.likelihoods == model.module.likelihoods  # kept, not re-derived
    query_model.train(max_epochs=2, enable_progress_bar=False)
    predicted = query_model.predict().astype(str).to_numpy()
    accuracy = float((predicted == kept.obs["truth"].to_numpy()).mean())
    chance = kept.obs["truth"].value_counts(normalize=True).max()
    assert accuracy > chance + 0.1, (query_modalities, accuracy, chance)


def _opening_peaks(table, peak_names: np.ndarray, n: int = 20) -> np.ndarray:
    """Positions of the ``n`` peaks with the largest mean |SHAP| among those whose opening
    pushes toward the target."""
    peaks = table[table["modality"] == "atac"].set_index("feature").loc[peak_names]
    score = np.where(peaks["direction"] == "high", peaks["mean_abs_shap"], -np.inf)
    return np.argsort(-score, kind="stable")[:n]


def _set_auroc(accessible, peaks: np.ndarray, group: np.ndarray) -> float:
    """Class-vs-rest AUROC of each cell's share of its open peaks that are among ``peaks``."""
    share = np.asarray(accessible[:, peaks].sum(1)).ravel() / np.asarray(accessible.sum(1)).ravel()
    return float(roc_auc_score(group, share))


def test_top_peaks_open_in_their_class_and_rna_markers_lead(multiome):
    """Per class: the top-20 peaks, as a set, mark the class; the same ranking read with
    shuffled peak names does not; each checked class's top-20 genes hold a known marker."""
    model, reference, _ = multiome
    importance = model.get_feature_importance()
    labels = reference.obs["cell_type"].astype(str).to_numpy()
    accessible = sparse.csc_matrix(reference["atac"].X)
    peak_names = np.asarray(reference["atac"].var_names)
    shuffled_names = np.random.default_rng(1).permutation(peak_names)
    top, control, with_marker, checked = [], [], 0, 0
    for target, table in importance.groupby("target", observed=True):
        group = labels == target
        if group.sum() < 30:
            continue
        peaks = _opening_peaks(table, peak_names)
        top.append(_set_auroc(accessible, peaks, group))
        shuffled = _opening_peaks(table, shuffled_names)  # names detached from the values
        control.append(_set_auroc(accessible, shuffled, group))
        if target in MARKERS:
            genes = set(table[table["modality"] == "rna"].nsmallest(20, "rank")["feature"])
            checked += 1
            with_marker += bool(genes & MARKERS[target])
    assert len(top) >= 5
    assert np.median(top) >= 0.7, top
    assert np.median(control) < 0.6, control
    assert checked >= 3 and with_marker >= checked - 1, (with_marker, checked)


def test_peaks_explain_a_gene_across_modalities(multiome):
    """``target="rna:GNLY"`` explained by peaks: its top peaks mark the cells expressing it."""
    model, reference, _ = multiome
    table = model.get_feature_importance(target="rna:GNLY", modalities="atac")
    assert set(table["modality"]) == {"atac"}
    peak_names = np.asarray(reference["atac"].var_names)
    expressing = np.asarray(reference["rna"][:, "GNLY"].X.todense()).ravel() > 0
    accessible = sparse.csc_matrix(reference["atac"].X)
    top = _set_auroc(accessible, _opening_peaks(table, peak_names), expressing)
    assert top >= 0.65, top
    controls = [  # names detached from the values, five times
        _set_auroc(accessible, _opening_peaks(table, rng.permutation(peak_names)), expressing)
        for rng in map(np.random.default_rng, range(5))
    ]
    assert np.median(controls) < 0.6, controls


def test_importance_fast_path_is_used_for_peaks(multiome):
    """The attribution plan of RNA + ATAC starts at the encoders' first layers."""
    model, _, _ = multiome
    plan = model._attribution_plan(None, None, "log1p")
    assert plan.linear_input is not None
    widths = [weight.shape for _, weight in plan.linear_input.blocks]
    assert widths == [(64, 4000), (64, 20001)]
    assert isinstance(plan.linear_input.blocks[1][1], torch.Tensor)
