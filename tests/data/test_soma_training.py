"""Training from a TileDB-SOMA store and from on-disk AnnData agrees with training in memory."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import scvi
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

import scvi_interpret as si
from scvi_interpret.model import LinearVI, MultimodalClassifier, ProgramVI
from scvi_interpret.model.base._cells import first_cells
from scvi_interpret.model.linear_vi import _model as linear_vi_model
from scvi_interpret.model.linear_vi._rotation import joint_varimax_rotation

pytestmark = pytest.mark.filterwarnings("ignore")
QUIET = {"enable_progress_bar": False}
MODALITIES = {"rna": "rna", "protein": "prot"}


def _distance_agreement(a: np.ndarray, b: np.ndarray, n: int = 600) -> float:
    """Spearman correlation of cell–cell distances in two embeddings of the same cells."""
    cells = np.random.default_rng(0).choice(len(a), min(n, len(a)), replace=False)
    return float(spearmanr(pdist(a[cells]), pdist(b[cells])).statistic)


def _linear_vi_in_memory(adata):
    adata = adata.copy()
    LinearVI.setup_anndata(adata, batch_key="batch")
    scvi.settings.seed = 0
    model = LinearVI(adata, n_latent=8, n_hidden=64)
    model.train(max_epochs=3, train_size=0.9, **QUIET)
    return model.get_latent_representation()


@pytest.fixture(scope="module")
def soma_linear_vi(soma_uri):
    dm = si.data.SomaDataModule(soma_uri, LinearVI, measurement="rna", batch_key="batch")
    scvi.settings.seed = 0
    model = LinearVI(None, registry=dm.registry, n_latent=8, n_hidden=64)
    model.train(max_epochs=3, datamodule=dm, **QUIET)
    return model, dm


def test_soma_latent_agrees_with_in_memory(soma_linear_vi, liu_rna_cells):
    model, dm = soma_linear_vi
    from_disk = model.get_latent_representation(datamodule=dm)
    assert from_disk.shape == (liu_rna_cells.n_obs, 8)
    assert list(dm.obs_names) == list(liu_rna_cells.obs_names)  # store order = input order
    assert _distance_agreement(from_disk, _linear_vi_in_memory(liu_rna_cells)) >= 0.9
    # the start values came from the store: the intercept starts at the genes' log shares
    assert model.registry["scvi_interpret_statistics"]["X"]["n_cells"] == liu_rna_cells.n_obs
    # the loadings' prior is weighed by the training cells of the store (all ranks)
    assert model.trainer.lightning_module.loss_kwargs["n_obs"] == dm.n_train == len(dm.train_idx)
    # the factor rotation read the store's cells (1,500: all of them, under the sample cap)
    rotation = model.module.factor_rotation.double().numpy()
    scores = from_disk.astype(np.float64) @ rotation.T  # back to the encoder's coordinates
    weight = model.module.decoder.loadings().detach().double().numpy()
    expected = joint_varimax_rotation(weight - weight.mean(0), scores - scores.mean(0))
    np.testing.assert_allclose(rotation, expected, atol=1e-4)


def test_soma_model_reads_memory_and_disk_alike(soma_linear_vi, liu_rna_cells):
    model, dm = soma_linear_vi
    in_memory = model.get_latent_representation(adata=liu_rna_cells.copy())
    np.testing.assert_array_equal(in_memory, model.get_latent_representation(datamodule=dm))
    chosen = np.array([5, 1, 700, 3])
    np.testing.assert_array_equal(
        model.get_latent_representation(datamodule=dm, indices=chosen), in_memory[chosen]
    )


def test_interpretation_from_disk_equals_in_memory(soma_linear_vi, liu_rna_cells):
    """Sampled importance, archetypes, traversal and the trust checks read a store in chunks
    and give what the same cells in memory give."""
    model, dm = soma_linear_vi
    adata = liu_rna_cells.copy()
    fast = {"n_background": 10, "n_samples": 20}
    disk = model.get_feature_importance(datamodule=dm, n_cells=300, **fast)
    memory = model.get_feature_importance(adata=adata, n_cells=300, **fast)
    assert disk.attrs["sampling"]["strata"] == ["latent clusters", "batch"]
    assert disk.attrs["sampling"]["n_cells"] == 300
    np.testing.assert_allclose(disk["mean_abs_shap"], memory["mean_abs_shap"], rtol=1e-4)
    assert (disk["rank_ci_high"] == memory["rank_ci_high"]).all()
    archetypes_disk = model.get_archetypes(datamodule=dm, n_archetypes=3)
    archetypes_memory = model.get_archetypes(adata=adata, n_archetypes=3)
    np.testing.assert_allclose(archetypes_disk.weights, archetypes_memory.weights, atol=1e-6)
    assert list(archetypes_disk.weights.index) == list(adata.obs_names)
    walk_disk = model.latent_traversal(datamodule=dm, dims="factor_0")
    walk_memory = model.latent_traversal(adata=adata, dims="factor_0")
    np.testing.assert_allclose(walk_disk["log2_fold_change"], walk_memory["log2_fold_change"],
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    sampled = model.latent_traversal(datamodule=dm, dims="factor_0", n_cells=500)
    assert sampled.attrs["n_cells"] == 500  # from a store: runs of consecutive cells
    check = model.randomization_check(target="factor_0", datamodule=dm, n_cells=100, **fast)
    assert check.attrs["n_cells"] == 100
    curve = model.deletion_curve("factor_0", datamodule=dm, n_cells=30, ks=(5,), **fast)
    assert curve.attrs["n_cells"] == 30


def test_soma_model_save_load_round_trip(soma_linear_vi, soma_uri, tmp_path):
    model, dm = soma_linear_vi
    model.save(tmp_path / "model")
    loaded = LinearVI.load(tmp_path / "model", adata=False)
    assert loaded.adata is None and loaded.is_trained_
    again = si.data.SomaDataModule(soma_uri, reference=loaded, measurement="rna")
    np.testing.assert_array_equal(
        loaded.get_latent_representation(datamodule=again),
        model.get_latent_representation(datamodule=dm),
    )
    with pytest.raises(ValueError, match="no AnnData"):
        loaded.get_latent_representation()


def test_backed_h5ad_trains_like_in_memory(h5ad_path, liu_rna_cells):
    backed = ad.read_h5ad(h5ad_path, backed="r")
    LinearVI.setup_anndata(backed, batch_key="batch")
    scvi.settings.seed = 0
    model = LinearVI(backed, n_latent=8, n_hidden=64)
    model.train(max_epochs=3, train_size=0.9, **QUIET)
    latent = model.get_latent_representation()
    assert _distance_agreement(latent, _linear_vi_in_memory(liu_rna_cells)) >= 0.9
    # same model: backed and in-memory cells give the same latent
    np.testing.assert_allclose(
        model.get_latent_representation(adata=liu_rna_cells.copy()), latent, atol=1e-5
    )


def test_program_vi_from_soma(soma_uri, liu_rna_cells, gmt_dir):
    dm = si.data.SomaDataModule(soma_uri, ProgramVI, measurement="rna", batch_key="batch")
    mask = si.genesets.build_mask(liu_rna_cells.var_names, gmt_dir / "h.all.v7.5.1.symbols.gmt",
                                  min_genes=8)  # fmt: skip
    scvi.settings.seed = 0
    model = ProgramVI(None, gene_programs=mask, min_genes=8, registry=dm.registry, n_hidden=64)
    # the penalties are scaled by the store's mean count, as in memory
    adata = liu_rna_cells.copy()
    ProgramVI.setup_anndata(adata, batch_key="batch")
    scvi.settings.seed = 0
    in_memory = ProgramVI(adata, gene_programs=mask, min_genes=8, n_hidden=64)
    assert float(model.module.penalty_scale) == pytest.approx(
        float(in_memory.module.penalty_scale)
    )
    model.train(max_epochs=3, datamodule=dm, **QUIET)
    in_memory.train(max_epochs=3, train_size=0.9, **QUIET)
    activity = model.get_program_activity(datamodule=dm)
    assert list(activity.columns) == model.program_names
    assert (
        _distance_agreement(activity.to_numpy(), in_memory.get_program_activity().to_numpy())
        >= 0.9
    )
    pd_memory = model.get_program_activity(adata=adata)
    np.testing.assert_array_equal(pd_memory.to_numpy(), activity.to_numpy())


@pytest.fixture(scope="module")
def soma_classifier(soma_uri):
    dm = si.data.SomaDataModule(soma_uri, MultimodalClassifier, labels_key="cell_type",
                                batch_key="batch", modalities=MODALITIES,
                                obs_filter="batch != 'B3'")  # fmt: skip
    scvi.settings.seed = 0
    model = MultimodalClassifier(None, registry=dm.registry, n_latent=10, n_hidden=64)
    model.train(max_epochs=6, datamodule=dm, **QUIET)
    return model, dm


def test_classifier_from_soma_two_measurements(soma_classifier, liu_cells):
    model, dm = soma_classifier
    reference = liu_cells[liu_cells.obs["batch"] != "B3"].copy()
    assert dm.n_obs == reference.n_obs
    assert model.calibration_ is not None and model.calibration_["n_cells"] > 0
    from_disk = model.predict(datamodule=dm, soft=True)
    MultimodalClassifier.setup_mudata(reference, labels_key="cell_type", batch_key="batch",
                                      modalities=MODALITIES)  # fmt: skip
    in_memory = model.predict(reference, soft=True)
    np.testing.assert_allclose(from_disk.to_numpy(), in_memory.to_numpy(), atol=1e-6)
    assert list(from_disk.index) == list(reference.obs_names)
    accuracy = (from_disk.idxmax(1) == reference.obs["cell_type"]).mean()
    assert accuracy > 0.4  # 17 classes, 6 epochs on 1,000 cells
    # the model was built with the store's start values of both modalities
    stats = model.registry["scvi_interpret_statistics"]
    assert set(stats) == {"X_rna", "X_protein"}


def test_classifier_attribution_from_disk(soma_classifier):
    model, dm = soma_classifier
    table = model.get_feature_importance(datamodule=dm, indices=np.arange(40))
    assert set(table["modality"]) == {"rna", "protein"}
    assert table.attrs["n_cells"] == 40
    assert table.attrs["median_additivity_error"] < 0.1  # 17-class log odds, 6 epochs
    sampled = model.get_feature_importance(datamodule=dm, n_cells=200, n_background=10,
                                           n_samples=20)  # fmt: skip
    assert sampled.attrs["sampling"]["strata"] == ["labels", "batch"]
    # each row's n_cells: the sampled cells predicted as its class; together the sample
    per_class = sampled.groupby("target")["n_cells"].first()
    assert per_class.sum() == 200 and sampled.attrs["n_cells"] == 200


def test_query_in_memory_and_on_disk_onto_a_soma_reference(soma_classifier, soma_uri, liu_cells):
    model, _ = soma_classifier
    query = liu_cells[liu_cells.obs["batch"] == "B3"].copy()
    truth = query.obs["cell_type"].to_numpy()
    query.obs = query.obs[["batch"]]  # a query's labels are to be predicted
    prepared = MultimodalClassifier.prepare_query_mudata(query, model)
    in_memory = MultimodalClassifier.load_query_data(prepared, model)
    scvi.settings.seed = 0
    in_memory.train(max_epochs=2, **QUIET)
    with pytest.raises(ValueError, match="labels the reference model does not know"):
        si.data.SomaDataModule(soma_uri, reference=model, extend_categories=True,
                               obs_filter="batch == 'B3'")  # fmt: skip
    disk = si.data.SomaDataModule(soma_uri, reference=model, extend_categories=True,
                                  obs_filter="batch == 'B3'", use_labels=False)  # fmt: skip
    on_disk = MultimodalClassifier.load_query_data(registry=disk.registry, reference_model=model)
    scvi.settings.seed = 0
    on_disk.train(max_epochs=2, datamodule=disk, **QUIET)
    calls_memory = in_memory.predict().to_numpy()
    calls_disk = on_disk.predict(datamodule=disk).to_numpy()
    assert (calls_disk == calls_memory).mean() > 0.9  # the same mapping, read from disk
    assert (calls_disk == truth).mean() > 0.2  # 17 classes; a small, briefly trained model
    # the query's new batch got its own code; the reference's encoders stayed frozen
    assert list(on_disk.get_state_registry("batch").categorical_mapping) == ["B1", "B2", "B3"]
    for name, weight in model.module.classifier.state_dict().items():
        np.testing.assert_array_equal(on_disk.module.classifier.state_dict()[name], weight)
    rna_encoder = on_disk.module.encoders["rna"].state_dict()
    for name, weight in model.module.encoders["rna"].state_dict().items():
        if weight.shape == rna_encoder[name].shape:  # first layer: one new batch column
            np.testing.assert_array_equal(rna_encoder[name], weight)


def _tiledb_datamodule(soma_uri):
    """scvi-tools' own TileDBDataModule over the store's RNA, shuffled with seed 0."""
    import tiledbsoma

    query = tiledbsoma.Experiment.open(soma_uri).axis_query(measurement_name="rna")
    return scvi.dataloaders.TileDBDataModule(
        query, layer_name="data", batch_size=128, shuffle=True, seed=0,
        batch_column_names=["batch"], model_name="LinearVI",
    )  # fmt: skip


def test_linear_vi_trains_saves_and_loads_with_scvi_tools_tiledb_datamodule(soma_uri, tmp_path):
    import torch

    dm = _tiledb_datamodule(soma_uri)
    with pytest.warns(UserWarning, match="no count statistics"):
        model = LinearVI(None, registry=dm.registry, n_latent=4, n_hidden=16)
    model.train(max_epochs=1, datamodule=dm, **QUIET)
    assert model.trainer.lightning_module.loss_kwargs["n_obs"] == dm.n_obs  # train_size 1
    # the factor rotation read up to 10,000 cells streamed from the store: a real rotation
    rotation = model.module.factor_rotation.double().numpy()
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(4), atol=1e-5)
    assert not np.allclose(rotation, np.eye(4), atol=0.05)
    assert model.feature_names[:2].tolist() == ["0", "1"]  # scvi-tools names them by join id
    model.save(tmp_path / "model", datamodule=dm)
    loaded = LinearVI.load(tmp_path / "model", adata=False, datamodule=dm)
    for name, weight in model.module.state_dict().items():
        assert torch.equal(loaded.module.state_dict()[name], weight)


def _pca_start_in_memory(liu_rna_cells, n_latent: int) -> np.ndarray:
    adata = liu_rna_cells.copy()
    LinearVI.setup_anndata(adata, batch_key="batch")
    model = LinearVI(adata, n_latent=n_latent, n_hidden=16, loadings_start="pca")
    return model._pca_start()


def test_pca_start_reads_the_same_sample_from_a_store_as_in_memory(
    soma_uri, liu_rna_cells, monkeypatch
):
    monkeypatch.setattr(linear_vi_model, "ROTATION_CELLS", 300)  # a sample, not every cell
    dm = si.data.SomaDataModule(soma_uri, LinearVI, measurement="rna", batch_key="batch")
    model = LinearVI(None, registry=dm.registry, n_latent=8, n_hidden=16, loadings_start="pca")
    start = model._pca_start(dm)
    assert start.shape == (liu_rna_cells.n_vars, 8) and np.isfinite(start).all()
    np.testing.assert_allclose(start, _pca_start_in_memory(liu_rna_cells, 8), atol=1e-8)


def test_pca_start_from_the_scvi_tools_tiledb_stream(soma_uri, liu_rna_cells):
    dm = _tiledb_datamodule(soma_uri)
    with pytest.warns(UserWarning, match="no count statistics"):
        model = LinearVI(None, registry=dm.registry, n_latent=4, n_hidden=16, loadings_start="pca")
    # every one of the 1,500 cells (under the cap) in the stream's shuffled order: the PCA of
    # the same cells as in memory, whatever their order
    start = model._pca_start(dm)
    expected = _pca_start_in_memory(liu_rna_cells, 4)
    signs = np.sign((start * expected).sum(axis=0))
    np.testing.assert_allclose(start * signs, expected, atol=1e-6 * np.abs(expected).max())
    model.train(max_epochs=1, datamodule=dm, **QUIET)
    assert np.isfinite(model.get_loadings().to_numpy()).all()


def test_first_cells_stops_at_the_cap_and_cuts_the_last_minibatch():
    import torch

    pulled = []

    def minibatches():  # a long stream; counts what was read
        for start in range(0, 10_000, 64):
            pulled.append(start)
            yield {"X": torch.arange(start, start + 64)[:, None], "batch": torch.zeros(64, 1)}

    taken = list(first_cells(minibatches(), 150))
    assert [len(t["X"]) for t in taken] == [64, 64, 22] and len(pulled) == 3  # no further
    assert [len(t["X"]) for t in first_cells(minibatches(), 128)] == [64, 64]
    assert len(pulled) == 5
    assert torch.equal(torch.cat([t["X"] for t in taken]).ravel(), torch.arange(150))
    assert all(len(t["batch"]) == len(t["X"]) for t in taken)
