"""MultimodalClassifier on the real mosaic and Liu CITE-seq data, and on generated RNA+ATAC."""

from __future__ import annotations

import mudata as md
import numpy as np
import pytest
import torch

import scvi_interpret as si
from scvi_interpret.model import MultimodalClassifier
from synthetic_multimodal import fit_classifier, simulate_multiome

pytestmark = pytest.mark.filterwarnings("ignore")
PROTEIN_AND_RNA = {"rna": "rna", "protein": "adt"}


def _accuracy(model, mdata, cells=None) -> float:
    predicted = model.predict().astype(str).to_numpy()
    truth = mdata.obs["cell_type"].astype(str).to_numpy()
    cells = np.arange(mdata.n_obs) if cells is None else cells
    return float((predicted[cells] == truth[cells]).mean())


@pytest.fixture(scope="module")
def mosaic(data_dir):
    return MultimodalClassifier.align_mudata(si.datasets.pbmc_mosaic(data_dir))


@pytest.fixture(scope="module")
def mosaic_model(mosaic):
    mdata = mosaic.copy()
    model = fit_classifier(mdata, PROTEIN_AND_RNA, 25, n_latent=10, n_hidden=64)
    return model, mdata


def test_mosaic_cells_with_one_modality_are_classified(mosaic_model):
    model, mdata = mosaic_model
    loss = model.history["train_classification_loss"].to_numpy().ravel()
    assert loss[-1] < 0.5 * loss[0]
    held_out = model.validation_indices
    assert _accuracy(model, mdata, held_out) > 0.85
    batch = mdata.obs["batch"].astype(str).to_numpy()
    for name in ["p1_0", "p2_0"]:  # RNA only, ADT only
        cells = held_out[batch[held_out] == name]
        assert len(cells) > 10 and _accuracy(model, mdata, cells) > 0.75, name
    # RNA-only and ADT-only cells are read as missing the other modality
    counts = {m: mdata.mod[k].X for m, k in model.modalities.items()}
    present = model.module.present({m: torch.as_tensor(np.asarray(x[:5].todense()))
                                    for m, x in counts.items()})  # fmt: skip
    assert present.tolist() == [[1.0, 0.0]] * 5  # the first cells are p1_0 (RNA only)


def test_prediction_outputs(mosaic_model):
    model, mdata = mosaic_model
    probabilities = model.predict(soft=True)
    assert list(probabilities.columns) == model.class_names and len(probabilities) == 1600
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-5)
    labels = model.predict(unknown_threshold=0.999)
    unsure = probabilities.max(1) < 0.999
    assert (labels[unsure.to_numpy()] == "Unknown").all() and unsure.any()
    assert (labels[~unsure.to_numpy()] != "Unknown").all()
    uncertainty = model.get_uncertainty()
    assert uncertainty["normalized_entropy"].between(0, 1).all()
    assert uncertainty["confidence"].corr(uncertainty["entropy"]) < -0.5
    model.predict(key_added="predicted")
    assert {"predicted", "predicted_confidence", "predicted_entropy"} <= set(mdata.obs)
    assert mdata.obsm["predicted_probabilities"].shape == (1600, len(model.class_names))
    with pytest.raises(ValueError, match="unknown_threshold"):
        model.predict(unknown_threshold=1.5)


def test_save_load_gives_identical_predictions(mosaic_model, tmp_path):
    model, mdata = mosaic_model
    model.save(tmp_path / "model", overwrite=True)
    loaded = MultimodalClassifier.load(tmp_path / "model", adata=mdata)
    before, after = model.predict(soft=True), loaded.predict(soft=True)
    np.testing.assert_array_equal(before.to_numpy(), after.to_numpy())
    assert float(loaded.module.temperature) == float(model.module.temperature) != 1.0
    np.testing.assert_array_equal(
        model.get_latent_representation(), loaded.get_latent_representation()
    )


def test_query_without_protein_maps_and_is_classified(mosaic):
    """Reference: ADT-only and paired batches; query: the RNA-only batch, no 'adt' at all."""
    batch = mosaic.obs["batch"].astype(str)
    reference = mosaic[batch != "p1_0"].copy()
    model = fit_classifier(reference, PROTEIN_AND_RNA, 25, n_latent=10, n_hidden=64)
    cells = mosaic.obs_names[batch == "p1_0"]
    query = md.MuData({"rna": mosaic.mod["rna"][cells].copy()})
    query.obs = mosaic.obs.loc[cells, ["batch"]].copy()  # no labels column
    truth = mosaic.obs.loc[cells, "cell_type"].astype(str).to_numpy()
    with pytest.raises(ValueError, match="prepare_query_mudata"):
        MultimodalClassifier.load_query_data(query, model)
    prepared = MultimodalClassifier.prepare_query_mudata(query, model)
    assert prepared.mod["adt"].X.sum() == 0 and prepared.mod["adt"].n_vars == 224
    query_model = MultimodalClassifier.load_query_data(prepared, model)
    frozen = {k: v.clone() for k, v in model.module.state_dict().items() if "classifier" in k}
    query_model.train(max_epochs=3, enable_progress_bar=False)
    for key, value in frozen.items():
        torch.testing.assert_close(query_model.module.state_dict()[key], value)
    predicted = query_model.predict().astype(str).to_numpy()
    assert (predicted == truth).mean() > 0.75
    assert query_model.module.temperature == model.module.temperature


@pytest.fixture(scope="module")
def liu_subset(data_dir):
    """2,400 Liu cells (800 per batch), RNA + protein."""
    mdata = si.datasets.pbmc_citeseq(data_dir)
    rng = np.random.default_rng(0)
    batch = mdata.obs["batch"].to_numpy()
    picks = np.sort(np.concatenate([
        rng.choice(np.flatnonzero(batch == b), 800, replace=False) for b in ["B1", "B2", "B3"]
    ]))  # fmt: skip
    subset = md.MuData({k: mdata.mod[k][picks].copy() for k in ("rna", "prot")})
    subset.obs = mdata.obs.iloc[picks][["cell_type", "batch"]].copy()
    return subset


def test_liu_held_out_accuracy_and_calibration(liu_subset):
    mdata = liu_subset.copy()
    model = fit_classifier(mdata, {"rna": "rna", "protein": "prot"}, 20, n_latent=16,
                           n_hidden=64, train_size=0.8)  # fmt: skip
    held_out = model.validation_indices
    # 17 classes, the largest 19 % of cells: far above chance
    assert _accuracy(model, mdata, held_out) > 0.7
    calibration = model.calibration_
    assert calibration["n_cells"] == len(held_out)
    assert calibration["ece_after"] < calibration["ece_before"]


@pytest.fixture(scope="module")
def multiome_model():
    mdata = simulate_multiome()
    model = fit_classifier(mdata, {"rna": "rna", "atac": "atac"}, 30, n_latent=8, n_hidden=32)
    return model, mdata


def test_rna_and_atac_are_classified(multiome_model):
    model, mdata = multiome_model
    assert model.module.likelihoods == {"rna": "nb", "atac": "poisson"}
    assert _accuracy(model, mdata, model.validation_indices) > 0.95


# ------------------------------------------------------------------ bad input
def _unchanged(mdata) -> bool:
    return "_scvi_uuid" not in mdata.uns and not any(c.startswith("_scvi") for c in mdata.obs)


def test_bad_input_is_refused_before_setup(mosaic, liu_subset):
    setup = MultimodalClassifier.setup_mudata
    mdata = liu_subset.copy()
    with pytest.raises(KeyError, match=r"'protein'.*not a modality"):
        setup(mdata, labels_key="cell_type", modalities={"rna": "rna", "protein": "adt"})
    with pytest.raises(KeyError, match="labels_key='celltype'"):
        setup(mdata, labels_key="celltype", modalities={"rna": "rna"})
    floats = mdata.copy()
    floats.mod["rna"].X = floats.mod["rna"].X * 0.5
    with pytest.raises(ValueError, match="non-integer"):
        setup(floats, labels_key="cell_type", modalities={"rna": "rna"})
    unaligned = si.datasets.pbmc_mosaic()
    with pytest.raises(ValueError, match="align_mudata"):
        setup(unaligned, labels_key="cell_type", modalities={"rna": "rna", "protein": "adt"})
    with pytest.raises(TypeError, match="needs a MuData"):
        setup(mdata.mod["rna"], labels_key="cell_type", modalities={"rna": "rna"})
    with pytest.raises(NotImplementedError, match="setup_mudata"):
        MultimodalClassifier.setup_anndata(mdata.mod["rna"])
    for data in (mdata, floats, unaligned):
        assert _unchanged(data)
