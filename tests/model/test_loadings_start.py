"""LinearVI(loadings_start="pca"): the loadings start on the principal axes of the counts."""

import numpy as np
import pytest
import scvi
from scipy import sparse
from sklearn.decomposition import PCA

from scvi_interpret.errors import InvalidArgumentError
from scvi_interpret.model import LinearVI
from scvi_interpret.model.linear_vi import _model as linear_vi_model
from scvi_interpret.model.linear_vi._pca_start import PCA_START_SCALE, pca_start_loadings
from synthetic_factors import planted_recovery, simulate_groups

TRAIN = {"batch_size": 128, "train_size": 1.0, "enable_progress_bar": False}
N_GROUPS, GENES_PER_GROUP, N_LATENT = 5, 10, 8
BARELY = {"lr": 1e-12}  # a training step that leaves the weights where they are


def dense(counts) -> np.ndarray:
    return counts.toarray() if sparse.issparse(counts) else np.asarray(counts)


def dense_pca_start(counts: np.ndarray, n_latent: int) -> np.ndarray:
    """The start by the textbook route: dense log-normalised counts, exact (LAPACK) PCA."""
    counts = counts.astype(np.float64)
    logged = np.log1p(1e4 * counts / counts.sum(axis=1, keepdims=True))
    pca = PCA(n_latent, svd_solver="full").fit(logged)
    return pca.components_.T * PCA_START_SCALE * np.sqrt(pca.explained_variance_)


def assert_equal_up_to_sign(actual: np.ndarray, expected: np.ndarray) -> None:
    signs = np.sign((actual * expected).sum(axis=0))  # a principal axis has no sign
    np.testing.assert_allclose(actual * signs, expected, atol=1e-6 * np.abs(expected).max())


def loadings_weight(model) -> np.ndarray:
    return model.module.decoder.factor_loadings.weight.detach().double().numpy()


def test_start_is_the_scaled_principal_axes_of_the_log_normalised_counts(pancreas_small):
    counts = dense(pancreas_small.layers["counts"])
    expected = dense_pca_start(counts, 6)
    blocks = [counts[:250], counts[250:]]  # read in blocks, as from a data loader
    assert_equal_up_to_sign(pca_start_loadings(blocks, 6), expected)
    # the columns follow the axes, largest sd first
    norms = np.linalg.norm(expected, axis=0)
    assert np.all(np.diff(norms) <= 0)
    # a sample with fewer cells than factors fills what its PCA gives; the rest keep NaN
    few = pca_start_loadings([counts[:5]], 6)
    assert np.isfinite(few[:, :4]).all() and np.isnan(few[:, 4:]).all()


@pytest.fixture(scope="module")
def planted():
    adata = simulate_groups(N_GROUPS, GENES_PER_GROUP)
    LinearVI.setup_anndata(adata, layer="counts")
    return adata


def test_first_training_starts_there_and_a_second_does_not_restart(planted):
    scvi.settings.seed = 0
    model = LinearVI(planted, n_latent=N_LATENT, n_hidden=32, loadings_start="pca")
    model.train(max_epochs=1, plan_kwargs=BARELY, **TRAIN)
    expected = dense_pca_start(dense(planted.layers["counts"]), N_LATENT)  # < 10,000 cells
    assert_equal_up_to_sign(loadings_weight(model), expected)
    model.train(max_epochs=3, **TRAIN)
    trained = loadings_weight(model)
    assert not np.allclose(np.abs(trained), np.abs(expected), atol=1e-3)  # training moved it
    model.train(max_epochs=1, plan_kwargs=BARELY, **TRAIN)  # trained: continues, no new start
    np.testing.assert_allclose(loadings_weight(model), trained, atol=1e-6)
    assert "loadings_start: pca" in model._model_summary_string


def test_start_reads_a_bounded_seeded_sample(planted, monkeypatch):
    monkeypatch.setattr(linear_vi_model, "ROTATION_CELLS", 200)
    model = LinearVI(planted, n_latent=N_LATENT, n_hidden=32, loadings_start="pca")
    sample = np.sort(np.random.default_rng(0).choice(planted.n_obs, 200, replace=False))
    counts = dense(planted.layers["counts"])
    assert_equal_up_to_sign(model._pca_start(), dense_pca_start(counts[sample], N_LATENT))
    everyone = dense_pca_start(counts, N_LATENT)
    assert not np.allclose(np.abs(model._pca_start()), np.abs(everyone), atol=1e-3)


def test_planted_sets_top_their_factors_from_the_pca_start(planted):
    scvi.settings.seed = 0
    model = LinearVI(planted, n_latent=N_LATENT, n_hidden=32, loadings_start="pca")
    model.train(max_epochs=80, plan_kwargs={"n_epochs_kl_warmup": 10}, **TRAIN)
    groups = planted.obs["group"].to_numpy().astype(str)
    latent = model.get_latent_representation()
    pearson = model.get_loadings(units="pearson").to_numpy()
    recovered = planted_recovery(latent, pearson, groups, N_GROUPS, GENES_PER_GROUP)
    assert all(auroc > 0.97 for _best, auroc, _found in recovered)
    found = [found for _best, _auroc, found in recovered]  # of 10 planted genes per set
    assert min(found) >= 7 and np.mean(found) >= 9, found  # seeds 0-2 here: ≥ 8, mean ≥ 9.6


def test_pca_start_is_kept_on_save_and_load(planted, tmp_path):
    model = LinearVI(planted, n_latent=N_LATENT, n_hidden=32, loadings_start="pca")
    model.train(max_epochs=1, **TRAIN)
    model.save(tmp_path / "model")
    loaded = LinearVI.load(tmp_path / "model", adata=planted)
    assert loaded._loadings_start == "pca" and loaded.is_trained_
    np.testing.assert_array_equal(loadings_weight(loaded), loadings_weight(model))


def test_bad_loadings_start_is_refused_before_anything_is_built(planted):
    with pytest.raises(InvalidArgumentError, match="loadings_start must be 'random' or 'pca'"):
        LinearVI(planted, n_latent=N_LATENT, loadings_start="svd")
