"""SomaDataModule: named errors for bad stores, feature order, partitions and shuffling."""

from __future__ import annotations

import numpy as np
import pytest
from anndata import AnnData
from scipy import sparse

import scvi_interpret as si
from scvi_interpret.data._soma_cells import EpochDataLoader
from scvi_interpret.model import LinearVI

pytestmark = pytest.mark.filterwarnings("ignore")


def _rna(liu_rna_cells, n=300) -> AnnData:
    return liu_rna_cells[:n].copy()


def test_missing_obs_column_is_named(soma_uri):
    with pytest.raises(KeyError, match=r"\['donor'\].*not in the SOMA experiment's obs"):
        si.data.SomaDataModule(soma_uri, LinearVI, measurement="rna", batch_key="donor")


def test_missing_measurement_layer_and_feature_column_are_named(soma_uri):
    with pytest.raises(KeyError, match="Measurement 'RNA' is not in the SOMA experiment"):
        si.data.SomaDataModule(soma_uri, LinearVI, measurement="RNA")
    with pytest.raises(KeyError, match="X layer 'counts' is not in measurement 'rna'"):
        si.data.SomaDataModule(soma_uri, LinearVI, measurement="rna", layer="counts")
    with pytest.raises(KeyError, match="feature_column='gene_symbol'"):
        si.data.SomaDataModule(soma_uri, LinearVI, measurement="rna", feature_column="gene_symbol")


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        (np.log1p, "non-integer values"),
        (lambda x: x - 1.0, "negative values"),
    ],
)
def test_non_count_store_is_refused(liu_rna_cells, tmp_path, transform, message):
    adata = _rna(liu_rna_cells)
    adata.X = sparse.csr_matrix(transform(adata.X.toarray()))
    uri = si.data.write_soma(adata, tmp_path / "bad.soma")
    with pytest.raises(ValueError, match=message):
        si.data.SomaDataModule(uri, LinearVI, batch_key="batch")


def test_empty_cells_and_empty_selection_are_refused(liu_rna_cells, tmp_path):
    adata = _rna(liu_rna_cells)
    dense = adata.X.toarray()
    dense[[3, 7]] = 0
    adata.X = sparse.csr_matrix(dense)
    uri = si.data.write_soma(adata, tmp_path / "empty.soma")
    with pytest.raises(ValueError, match="2 cell"):
        si.data.SomaDataModule(uri, LinearVI, batch_key="batch")
    with pytest.raises(ValueError, match=r"No cells .* match obs_filter"):
        si.data.SomaDataModule(uri, LinearVI, batch_key="batch", obs_filter="batch == 'B9'")


@pytest.fixture(scope="module")
def small_model(liu_rna_cells):
    adata = _rna(liu_rna_cells, 400)
    LinearVI.setup_anndata(adata, batch_key="batch")
    model = LinearVI(adata, n_latent=4, n_hidden=16)
    model.train(max_epochs=1, enable_progress_bar=False)
    return model, adata


def test_store_features_differing_from_the_reference_are_refused(small_model, tmp_path):
    model, adata = small_model
    fewer = adata[:, 10:].copy()
    uri = si.data.write_soma(fewer, tmp_path / "fewer.soma")
    with pytest.raises(ValueError, match="10 of the model's are missing"):
        si.data.SomaDataModule(uri, reference=model)


def test_store_features_in_another_order_are_read_in_the_model_order(small_model, tmp_path):
    model, adata = small_model
    order = np.random.default_rng(0).permutation(adata.n_vars)
    uri = si.data.write_soma(adata[:, order].copy(), tmp_path / "permuted.soma")
    dm = si.data.SomaDataModule(uri, reference=model)
    np.testing.assert_allclose(
        model.get_latent_representation(datamodule=dm),
        model.get_latent_representation(),
        atol=1e-5,
    )


def test_store_with_an_unseen_batch_needs_extend_categories(small_model, tmp_path):
    model, adata = small_model
    query = adata[:50].copy()
    query.obs["batch"] = "B_new"
    uri = si.data.write_soma(query, tmp_path / "query.soma")
    with pytest.raises(ValueError, match="B_new"):
        si.data.SomaDataModule(uri, reference=model)
    dm = si.data.SomaDataModule(uri, reference=model, extend_categories=True)
    with pytest.raises(ValueError, match="categories of 'batch' are not the model's"):
        model.get_latent_representation(datamodule=dm)  # a query model is needed first


def test_adata_with_permuted_or_other_genes_is_refused(small_model):
    model, adata = small_model
    permuted = adata[:, np.random.default_rng(0).permutation(adata.n_vars)].copy()
    before = permuted.copy()
    with pytest.raises(ValueError, match="same features are in another order"):
        model.get_latent_representation(permuted)
    with pytest.raises(ValueError, match="1 of the model's features are missing"):
        model.get_feature_importance(adata[:, 1:].copy())
    assert permuted.obs.equals(before.obs) and not permuted.obsm  # nothing was written


def test_ranks_read_disjoint_cells_that_cover_the_training_set(soma_uri, monkeypatch):
    dm = si.data.SomaDataModule(soma_uri, LinearVI, measurement="rna", batch_key="batch",
                                batch_size=64, train_size=0.8)  # fmt: skip

    def cells_read(loader) -> list[bytes]:  # a cell is known by its count vector
        return [row.numpy().tobytes() for batch in loader for row in batch["X"]]

    training = set(cells_read(dm.inference_dataloader(indices=dm.train_idx)))
    assert len(training) == len(dm.train_idx)  # count vectors identify the cells here
    seen = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        seen.append(cells_read(dm.train_dataloader()))
    assert len(seen[0]) == len(seen[1]) == len(dm.train_idx) // 2  # equal shares, drop ≤ 1
    assert not set(seen[0]) & set(seen[1])  # disjoint
    assert set(seen[0]) | set(seen[1]) <= training  # training cells only
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    # inference reads every cell in order, whatever the rank
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert sum(len(b["X"]) for b in dm.inference_dataloader()) == dm.n_obs


def test_each_epoch_shuffles_anew_and_train_and_validation_are_disjoint(soma_uri):
    dm = si.data.SomaDataModule(soma_uri, LinearVI, measurement="rna", batch_key="batch",
                                batch_size=50, train_size=0.9, seed=3)  # fmt: skip
    assert not set(dm.train_idx) & set(dm.val_idx)
    assert len(dm.train_idx) + len(dm.val_idx) == dm.n_obs
    loader = dm.train_dataloader()
    assert isinstance(loader, EpochDataLoader)
    first = np.concatenate([b["X"].sum(1).numpy() for b in loader])
    second = np.concatenate([b["X"].sum(1).numpy() for b in loader])
    assert len(first) == len(second) == len(dm.train_idx)
    assert not np.array_equal(first, second)  # another order
    np.testing.assert_allclose(np.sort(first), np.sort(second))  # the same cells


def test_minibatches_hold_the_store_counts_and_codes(soma_uri, liu_cells):
    dm = si.data.SomaDataModule(soma_uri, si.model.MultimodalClassifier, labels_key="cell_type",
                                batch_key="batch", modalities={"rna": "rna", "protein": "prot"},
                                scan_counts=False)  # fmt: skip
    cells = np.array([10, 2, 999, 0])
    (batch,) = list(dm.inference_dataloader(indices=cells, batch_size=10))
    np.testing.assert_array_equal(batch["X_rna"].numpy(), liu_cells.mod["rna"].X[cells].toarray())
    np.testing.assert_array_equal(batch["X_protein"].numpy(),
                                  liu_cells.mod["prot"].X[cells].toarray())  # fmt: skip
    mapping = dm.registry["field_registries"]["labels"]["state_registry"]["categorical_mapping"]
    labels = np.asarray(mapping)[batch["labels"].numpy().ravel()]
    np.testing.assert_array_equal(labels, liu_cells.obs["cell_type"].to_numpy()[cells])


def test_a_reference_store_is_checked_as_it_is_read(small_model, tmp_path):
    model, adata = small_model
    logged = adata[:100].copy()
    logged.X = sparse.csr_matrix(np.log1p(logged.X.toarray()))
    dm = si.data.SomaDataModule(si.data.write_soma(logged, tmp_path / "log.soma"),
                                reference=model)  # fmt: skip
    assert "scvi_interpret_statistics" not in dm.registry  # no first pass with a reference
    with pytest.raises(ValueError, match="non-integer values"):
        model.get_latent_representation(datamodule=dm)
