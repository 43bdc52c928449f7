"""Data given to a trained model get the same checks as at setup, on every entry point.

Each case passes bad data (log-normalised, NaN, unaligned modalities, unseen batches) and
asserts the named exception, its message, and that the user's object is unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest
import scanpy as sc

import scvi_interpret as si
from scvi_interpret.errors import InvalidDataError, ScviInterpretError
from scvi_interpret.model import LinearVI, MultimodalClassifier, ProgramVI

pytestmark = pytest.mark.filterwarnings("ignore")


def _user_copy(adata):
    """New data as a user would pass it: a copy without scvi-tools' setup traces."""
    fresh = adata.copy()
    fresh.obs = fresh.obs[[c for c in fresh.obs if not c.startswith("_scvi")]]
    fresh.uns = {}
    return fresh


def _snapshot(data):
    """What a call may not change: obs columns, obsm/uns keys, the counts."""
    return (list(data.obs.columns), sorted(data.obsm.keys()), sorted(data.uns.keys()),
            data.X.copy())  # fmt: skip


def _assert_unchanged(data, before):
    columns, obsm, uns, counts = before
    assert list(data.obs.columns) == columns
    assert sorted(data.obsm.keys()) == obsm and sorted(data.uns.keys()) == uns
    assert (abs(data.X - counts)).sum() == 0


@pytest.fixture(scope="module")
def models(liu_rna, gmt_dir):
    adata = liu_rna[:300].copy()
    LinearVI.setup_anndata(adata, batch_key="batch", labels_key="cell_type")
    linear = LinearVI(adata, n_latent=3, n_hidden=16)
    linear.train(max_epochs=1, enable_progress_bar=False)
    programs_data = liu_rna[:300].copy()
    ProgramVI.setup_anndata(programs_data, batch_key="batch", labels_key="cell_type")
    programs = ProgramVI(programs_data, gene_programs=gmt_dir / "h.all.v7.5.1.symbols.gmt",
                         min_genes=5, n_hidden=16)  # fmt: skip
    programs.train(max_epochs=1, enable_progress_bar=False)
    return linear, programs, adata


def _log_normalised(adata):
    data = _user_copy(adata)
    sc.pp.normalize_total(data)
    sc.pp.log1p(data)
    return data


ENTRY_POINTS = {
    "get_latent_representation": lambda m, a: m.get_latent_representation(a),
    "get_feature_importance": lambda m, a: m.get_feature_importance(adata=a, n_cells=50),
    "latent_traversal": lambda m, a: m.latent_traversal(adata=a, n_steps=3),
    "get_archetypes": lambda m, a: m.get_archetypes(adata=a, n_archetypes=2),
}


@pytest.mark.parametrize("call", list(ENTRY_POINTS))
def test_log_normalised_data_is_refused_on_every_linear_vi_entry_point(models, call):
    linear, _, adata = models
    data = _log_normalised(adata)
    before = _snapshot(data)
    with pytest.raises(InvalidDataError, match=r"non-integer values.*raw integer counts"):
        ENTRY_POINTS[call](linear, data)
    _assert_unchanged(data, before)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, a: m.get_program_activity(adata=a),
        lambda m, a: m.differential_program_activity(adata=a, groupby="cell_type"),
    ],
    ids=["get_program_activity", "differential_program_activity"],
)
def test_log_normalised_data_is_refused_by_program_vi(models, call):
    _, programs, adata = models
    data = _log_normalised(adata)
    before = _snapshot(data)
    with pytest.raises(InvalidDataError, match="non-integer values"):
        call(programs, data)
    _assert_unchanged(data, before)


def test_nan_and_unseen_batches_are_named(models):
    linear, _, adata = models
    with_nan = _user_copy(adata)
    with_nan.X = with_nan.X.toarray()
    with_nan.X[3, 5] = np.nan
    with pytest.raises(InvalidDataError, match="NaN or infinite"):
        linear.get_latent_representation(with_nan)
    new_batch = _user_copy(adata)
    new_batch.obs["batch"] = new_batch.obs["batch"].astype(str).replace({"B1": "B9"})
    before = _snapshot(new_batch)
    with pytest.raises(InvalidDataError, match=r"\['B9'\].*LinearVI.load_query_data"):
        linear.get_latent_representation(new_batch)
    _assert_unchanged(new_batch, before)


def test_load_checks_the_counts_too(models, tmp_path):
    linear, _, adata = models
    linear.save(tmp_path / "m")
    data = _log_normalised(adata)
    with pytest.raises(InvalidDataError, match="non-integer values"):
        LinearVI.load(tmp_path / "m", adata=data)
    assert not any(c.startswith("_scvi") for c in data.obs)


def test_the_right_data_still_give_the_same_latent(models):
    linear, _, adata = models
    np.testing.assert_allclose(linear.get_latent_representation(_user_copy(adata)),
                               linear.get_latent_representation(), atol=1e-6)  # fmt: skip


def test_classifier_refuses_unaligned_or_log_normalised_mudata(small_classifier, data_dir):
    model, _ = small_classifier
    unaligned = si.datasets.pbmc_mosaic(data_dir)  # modalities hold different cells
    with pytest.raises(InvalidDataError, match="align_mudata"):
        model.predict(unaligned)
    assert not any(c.startswith("_scvi") for c in unaligned.obs)
    log_normalised = MultimodalClassifier.align_mudata(si.datasets.pbmc_mosaic(data_dir))
    sc.pp.normalize_total(log_normalised.mod["rna"])
    sc.pp.log1p(log_normalised.mod["rna"])
    for call in (lambda: model.predict(log_normalised),
                 lambda: model.get_feature_importance(adata=log_normalised, n_cells=50),
                 lambda: model.get_latent_representation(log_normalised)):  # fmt: skip
        with pytest.raises(ScviInterpretError, match=r"mdata.mod\['rna'\].X contains non-int"):
            call()


def test_a_model_set_up_without_batch_or_labels_takes_new_data(liu_rna):
    adata = liu_rna[:200].copy()
    LinearVI.setup_anndata(adata)  # scvi-tools registers constant batch and label columns
    model = LinearVI(adata, n_latent=2, n_hidden=8)
    model.train(max_epochs=1, enable_progress_bar=False)
    new = _user_copy(liu_rna[200:300])
    assert model.get_latent_representation(new).shape == (100, 2)
