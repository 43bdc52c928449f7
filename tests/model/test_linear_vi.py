import numpy as np
import pandas as pd
import pytest
import scvi
import torch
from scipy import sparse
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier

import scvi_interpret as si
from scvi_interpret.model import LinearVI
from synthetic_factors import PLANTED, RARE, simulate_factors

TRAIN = {"batch_size": 128, "train_size": 1.0, "enable_progress_bar": False}


@pytest.fixture
def trained(pancreas_small):
    scvi.settings.seed = 0
    LinearVI.setup_anndata(pancreas_small, layer="counts", labels_key="cell_type")
    model = LinearVI(pancreas_small, n_latent=6, n_hidden=32)
    model.train(max_epochs=4, **TRAIN)
    return model


def test_loss_goes_down(trained):
    elbo = trained.history["elbo_train"].iloc[:, 0].to_numpy(dtype=float)
    assert np.all(np.diff(elbo) < 0) and elbo[-1] < 0.98 * elbo[0]
    recon = trained.get_reconstruction_error()["reconstruction_loss"]
    assert np.isfinite(float(recon))


def test_loadings_are_the_decoder(trained, pancreas_small):
    loadings = trained.get_loadings(key_added="linearvi_loadings")
    assert loadings.shape == (pancreas_small.n_vars, 6)
    assert list(loadings.index) == list(pancreas_small.var_names)
    assert list(loadings.columns) == [f"factor_{i}" for i in range(6)]
    np.testing.assert_allclose(loadings.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_array_equal(pancreas_small.varm["linearvi_loadings"], loadings.to_numpy())
    assert pancreas_small.uns["linearvi_loadings"]["columns"] == list(loadings.columns)

    z = trained.get_latent_representation(key_added="X_linearvi")
    assert np.array_equal(pancreas_small.obsm["X_linearvi"], z)
    # the module works in the encoder's coordinates; the reported factors are rotated
    assert not np.allclose(trained.module.factor_rotation.numpy(), np.eye(6))
    batch = [torch.zeros(len(z), 1)]
    counts = torch.as_tensor(pancreas_small.layers["counts"].toarray())
    with torch.no_grad():
        encoded = trained.module.inference(counts, batch[0])["qz"].loc
        px = trained.module.generative(encoded, torch.zeros(len(z), 1), batch)["px"]
    scale = px.scale.numpy()
    # the decoder's output is softmax(z @ loadings.T + intercept + batch offset) with the
    # reported z and loadings: nothing else acts on z
    decoder = trained.module.decoder
    intercept = decoder.intercept.detach().numpy()
    intercept = intercept + decoder.covariate_offsets.categorical[0].weight[0].detach().numpy()
    for raw_or_centered in (loadings.to_numpy(), trained.get_loadings(center=False).to_numpy()):
        logits = z @ raw_or_centered.T + intercept
        expected = np.exp(logits - logits.max(1, keepdims=True))
        expected /= expected.sum(1, keepdims=True)
        np.testing.assert_allclose(scale, expected, rtol=1e-4, atol=1e-7)


def test_expression_loadings_are_the_decoder_jacobian(pancreas_small):
    obs = pancreas_small.obs
    obs["half"] = np.where(np.arange(pancreas_small.n_obs) % 3 == 0, "a", "b")  # "b" most frequent
    obs["log_total"] = np.log1p(np.asarray(pancreas_small.layers["counts"].sum(1)).ravel())
    LinearVI.setup_anndata(
        pancreas_small, layer="counts", batch_key="half", continuous_covariate_keys=["log_total"]
    )
    scvi.settings.seed = 0
    model = LinearVI(pancreas_small, n_latent=4, n_hidden=16)
    model.train(max_epochs=2, **TRAIN)
    loadings = model.get_loadings(units="expression")
    assert loadings.shape == (pancreas_small.n_vars, 4)
    assert list(loadings.columns) == model.factor_names
    np.testing.assert_allclose(loadings.sum(axis=0), 0.0, atol=1e-3)

    mapping = list(model.adata_manager.get_state_registry("batch").categorical_mapping)
    batch = [torch.full((1, 1), float(mapping.index("b")))]
    cont = torch.tensor([[obs["log_total"].mean()]], dtype=torch.float32)

    rotation = model.module.factor_rotation  # reported factors → the module's coordinates

    def expression_per_10k(z):
        generative = model.module.generative(
            (z @ rotation.T)[None], torch.zeros(1, 1), batch, cont
        )
        return 1e4 * generative["px"].scale[0]

    # column k is the derivative along factor k at z = e_k (where the factor is on)
    at_factor = np.stack([
        torch.autograd.functional.jacobian(expression_per_10k, torch.eye(4)[k])[:, k].numpy()
        for k in range(4)
    ], axis=1)  # fmt: skip
    np.testing.assert_allclose(loadings.to_numpy(), at_factor, rtol=1e-4, atol=1e-5)
    # factor_value=0: every column at the average cell, z = 0
    at_origin = torch.autograd.functional.jacobian(expression_per_10k, torch.zeros(4)).numpy()
    at_zero = model.get_loadings(units="expression", factor_value=0.0).to_numpy()
    np.testing.assert_allclose(at_zero, at_origin, rtol=1e-4, atol=1e-5)
    assert np.abs(at_factor - at_origin).max() > 1e-2  # the two points differ
    # Pearson units: the same derivative over the Poisson sd at 10,000 counts, at that point
    with torch.no_grad():
        sd = np.stack([torch.sqrt(expression_per_10k(torch.eye(4)[k])).numpy()
                       for k in range(4)], axis=1)  # fmt: skip
    pearson = model.get_loadings(units="pearson").to_numpy()
    np.testing.assert_allclose(pearson, at_factor / sd, rtol=1e-4, atol=1e-5)


def test_planted_sets_top_expression_loadings_not_rare_genes():
    """Rare genes rising 20× outrank planted abundant genes rising 4× in log units only."""
    adata = simulate_factors()
    scvi.settings.seed = 0
    LinearVI.setup_anndata(adata, layer="counts")
    model = LinearVI(adata, n_latent=4, n_hidden=32)
    model.train(max_epochs=150, plan_kwargs={"n_epochs_kl_warmup": 20}, **TRAIN)
    latent = model.get_latent_representation()
    readings = {"log": {}, "expression": {}, "pearson": {},
                "expression at z = 0": {"units": "expression", "factor_value": 0.0}}  # fmt: skip
    top = {}
    for reading, kwargs in readings.items():
        loadings = model.get_loadings(**(kwargs or {"units": reading})).to_numpy()
        for group, planted in PLANTED.items():
            is_group = (adata.obs["group"] == group).to_numpy()
            aurocs = np.array([roc_auc_score(is_group, factor) for factor in latent.T])
            best = int(np.argmax(np.abs(aurocs - 0.5)))
            assert max(aurocs[best], 1 - aurocs[best]) > 0.95  # a factor finds the group
            column = loadings[:, best] * (1 if aurocs[best] > 0.5 else -1)
            genes = set(np.argsort(-column)[: len(planted)])
            top[reading, group] = (len(genes & set(planted)), len(genes & set(RARE)))
    for group in PLANTED:
        # at the average cell a rare gene's change is a fifth of a planted one's: none on top
        assert top["expression at z = 0", group][0] >= 9, top  # ≥ 9 of 12 planted on top
        assert top["expression at z = 0", group][1] == 0, top
        # where the factor is on (the default), the rare genes of its group have 20× their
        # average share and a few may join: the planted genes stay the large majority
        for reading in ("expression", "pearson"):
            assert top[reading, group][0] >= 8 and top[reading, group][1] <= 4, top
        assert top["log", group][1] >= 8, top  # what log units rank first: the rare genes


def test_loadings_units_checked(trained):
    with pytest.raises(si.errors.InvalidArgumentError, match="units must be"):
        trained.get_loadings(units="counts")
    with pytest.raises(si.errors.InvalidArgumentError, match="need no cells"):
        trained.get_loadings(adata=trained.adata)
    with pytest.raises(si.errors.InvalidArgumentError, match="same everywhere"):
        trained.get_loadings(factor_value=1.0)
    for value in (float("nan"), "1", True):
        with pytest.raises(si.errors.InvalidArgumentError, match="finite number"):
            trained.get_loadings(units="pearson", factor_value=value)


def test_save_load_identical_latents(trained, pancreas_small, tmp_path):
    before = trained.get_latent_representation()
    trained.save(tmp_path / "model", save_anndata=False)
    loaded = LinearVI.load(tmp_path / "model", adata=pancreas_small)
    np.testing.assert_array_equal(loaded.get_latent_representation(), before)
    pd.testing.assert_frame_equal(loaded.get_loadings(), trained.get_loadings())


@pytest.mark.parametrize(
    ("likelihood", "dispersion"), [("zinb", "gene"), ("poisson", "gene"), ("nb", "gene-batch")]
)
def test_other_likelihoods_train(pancreas_small, likelihood, dispersion):
    pancreas_small.obs["half"] = np.where(np.arange(pancreas_small.n_obs) % 2, "a", "b")
    LinearVI.setup_anndata(pancreas_small, layer="counts", batch_key="half")
    model = LinearVI(
        pancreas_small, n_latent=4, n_hidden=16, gene_likelihood=likelihood, dispersion=dispersion
    )
    model.train(max_epochs=2, **TRAIN)
    elbo = model.history["elbo_train"].iloc[:, 0].to_numpy(dtype=float)
    assert np.isfinite(elbo).all() and elbo[-1] < elbo[0]
    assert model.get_loadings().shape == (pancreas_small.n_vars, 4)


def test_covariates_enter_as_offsets_only(pancreas_small):
    obs = pancreas_small.obs
    obs["lane"] = np.where(np.arange(pancreas_small.n_obs) % 3 == 0, "l1", "l2")
    obs["log_total"] = np.log1p(np.asarray(pancreas_small.layers["counts"].sum(1)).ravel())
    obs["half"] = np.where(np.arange(pancreas_small.n_obs) % 2, "a", "b")
    LinearVI.setup_anndata(
        pancreas_small,
        layer="counts",
        batch_key="half",
        categorical_covariate_keys=["lane"],
        continuous_covariate_keys=["log_total"],
    )
    model = LinearVI(pancreas_small, n_latent=4, n_hidden=16)
    model.train(max_epochs=2, **TRAIN)
    decoder = model.module.decoder
    z = torch.randn(5, 4)
    codes = [torch.zeros(5, 1), torch.zeros(5, 1)]
    other = [torch.zeros(5, 1), torch.ones(5, 1)]
    cont = torch.zeros(5, 1)
    with torch.no_grad():
        difference = decoder(z, other, cont)[0] - decoder(z, codes, cont)[0]
        table = decoder.covariate_offsets.categorical[1].weight.detach()
    # switching the lane shifts every cell's logits by the same vector, whatever z is
    np.testing.assert_allclose(difference, (table[1] - table[0]).expand(5, -1), atol=1e-5)
    assert float((table[1] - table[0]).abs().max()) > 0


def test_query_mapping_on_held_out_batch(liu_rna):
    reference = liu_rna[liu_rna.obs["batch"].isin(["B1", "B2"])].copy()
    query = liu_rna[liu_rna.obs["batch"] == "B3"].copy()
    scvi.settings.seed = 0
    LinearVI.setup_anndata(reference, batch_key="batch")
    ref_model = LinearVI(reference, n_latent=10, n_hidden=64)
    ref_model.train(max_epochs=25, **TRAIN)
    frozen = {k: v.clone() for k, v in ref_model.module.state_dict().items()}

    query_model = LinearVI.load_query_data(query, ref_model)
    assert query_model.module.n_batch == 3
    query_model.train(max_epochs=10, **TRAIN)
    state = query_model.module.state_dict()
    # the query's factors are the reference's: same loadings, same rotation
    for key in ["decoder.factor_loadings.weight", "decoder.intercept", "px_r", "factor_rotation"]:
        assert torch.equal(state[key], frozen[key]), key
    assert not torch.equal(frozen["factor_rotation"], torch.eye(ref_model.module.n_latent))
    batch_table = state["decoder.covariate_offsets.categorical.0.weight"]
    assert torch.equal(batch_table[:2], frozen["decoder.covariate_offsets.categorical.0.weight"])
    assert float(batch_table[2].abs().max()) > 0  # the query's batch row learned
    assert query_model.module.n_trained_categories.tolist() == [3]

    with pytest.raises(ValueError, match="prepare_query_anndata"):
        LinearVI.load_query_data(query[:, ::-1].copy(), ref_model)
    with pytest.raises(ValueError, match="10 reference feature"):
        LinearVI.load_query_data(query[:, 10:].copy(), ref_model)
    padded = LinearVI.prepare_query_anndata(query[:, 10:].copy(), ref_model, inplace=False)
    assert list(padded.var_names) == list(reference.var_names)

    knn = KNeighborsClassifier(n_neighbors=15).fit(
        ref_model.get_latent_representation(), reference.obs["cell_type"]
    )
    predicted = knn.predict(query_model.get_latent_representation())
    accuracy = float(np.mean(predicted == query.obs["cell_type"].to_numpy()))
    chance = float(query.obs["cell_type"].value_counts(normalize=True).max())
    assert accuracy > chance + 0.2, (accuracy, chance)


def _state(adata):
    return (list(adata.obs.columns), sorted(adata.uns), sorted(adata.obsm), adata.X.copy())


def _assert_unchanged(adata, before):
    columns, uns, obsm, x = before
    assert list(adata.obs.columns) == columns and sorted(adata.uns) == uns
    assert sorted(adata.obsm) == obsm
    assert (abs(adata.X - x)).sum() == 0


@pytest.mark.parametrize(
    ("corrupt", "error", "message"),
    [
        (
            lambda a: a.layers.__setitem__("counts", a.layers["counts"] * 0.5),
            ValueError,
            "non-integer",
        ),
        (lambda a: a.layers.__setitem__("counts", -a.layers["counts"]), ValueError, "negative"),
        (
            lambda a: a.layers.__setitem__("counts", _with_nan(a.layers["counts"])),
            ValueError,
            "NaN",
        ),
        (lambda a: a.layers.pop("counts"), KeyError, "layer='counts'"),
    ],
)
def test_bad_counts_raise_before_any_change(pancreas_small, corrupt, error, message):
    corrupt(pancreas_small)
    before = _state(pancreas_small)
    with pytest.raises(error, match=message):
        LinearVI.setup_anndata(pancreas_small, layer="counts")
    _assert_unchanged(pancreas_small, before)


def _with_nan(matrix):
    matrix = sparse.csr_matrix(matrix, dtype=np.float32, copy=True)
    matrix.data[0] = np.nan
    return matrix


def test_missing_keys_raise_before_any_change(pancreas_small):
    before = _state(pancreas_small)
    with pytest.raises(KeyError, match="batch_key='donor_id' is not a column"):
        LinearVI.setup_anndata(pancreas_small, layer="counts", batch_key="donor_id")
    with pytest.raises(KeyError, match="categorical_covariate_keys='nope'"):
        LinearVI.setup_anndata(pancreas_small, layer="counts", categorical_covariate_keys=["nope"])
    _assert_unchanged(pancreas_small, before)


def test_key_added_with_indices_is_refused(trained):
    with pytest.raises(ValueError, match="Subset the AnnData"):
        trained.get_latent_representation(indices=[0, 1], key_added="X")


def test_public_api():
    """The models DESIGN.md promises, as scvi-tools models with the shared calls."""
    import inspect

    from scvi.model.base import ArchesMixin, BaseModelClass

    assert set(si.model.__all__) >= {"LinearVI", "ProgramVI", "MultimodalClassifier"}
    calls = ["get_feature_importance", "latent_traversal", "get_archetypes", "deletion_curve",
             "randomization_check", "get_latent_representation", "load_query_data"]  # fmt: skip
    for name in ["LinearVI", "ProgramVI", "MultimodalClassifier"]:
        model = getattr(si.model, name)
        assert issubclass(model, BaseModelClass) and issubclass(model, ArchesMixin), name
        for call in calls:
            assert callable(getattr(model, call, None)), (name, call)
        parameters = inspect.signature(model.get_feature_importance).parameters
        assert {"target", "modalities", "datamodule", "n_cells", "key_added"} <= set(parameters)


def test_empty_cells_raise_before_any_change(pancreas_small):
    counts = pancreas_small.layers["counts"].tolil()
    counts[5, :] = 0
    pancreas_small.layers["counts"] = counts.tocsr()
    before = _state(pancreas_small)
    with pytest.raises(ValueError, match=r"1 cell.*filter_cells"):
        LinearVI.setup_anndata(pancreas_small, layer="counts")
    _assert_unchanged(pancreas_small, before)


def test_missing_batch_values_raise_before_any_change(pancreas_small):
    pancreas_small.obs["donor_with_gap"] = pancreas_small.obs["batch"].astype(object)
    pancreas_small.obs.iloc[3, pancreas_small.obs.columns.get_loc("donor_with_gap")] = None
    before = _state(pancreas_small)
    with pytest.raises(ValueError, match="1 missing values"):
        LinearVI.setup_anndata(pancreas_small, layer="counts", batch_key="donor_with_gap")
    _assert_unchanged(pancreas_small, before)


def test_extra_metrics_of_the_loss_reach_the_history(liu_rna):
    """Parity with scvi-tools' TrainingPlan: scalar extra_metrics are logged per epoch."""
    import dataclasses

    from scvi_interpret.model import LinearVAE

    class WithLibraryMetric(LinearVAE):
        def loss(self, tensors, inference_outputs, generative_outputs, kl_weight=1.0, n_obs=None):
            output = super().loss(tensors, inference_outputs, generative_outputs, kl_weight, n_obs)
            library = tensors["X"].sum(1).log1p().mean()
            return dataclasses.replace(output, extra_metrics={"log_library": library})

    class Reporting(LinearVI):
        _module_cls = WithLibraryMetric

    adata = liu_rna[:300].copy()
    Reporting.setup_anndata(adata, batch_key="batch")
    model = Reporting(adata, n_latent=3, n_hidden=16)
    model.train(max_epochs=2, enable_progress_bar=False, check_val_every_n_epoch=1)
    logged = model.history["log_library_train"].to_numpy().ravel()
    expected = float(np.log1p(np.asarray(adata.X.sum(1)).ravel()).mean())
    assert len(logged) == 2 and np.allclose(logged, expected, rtol=0.05)
    assert "log_library_validation" in model.history


def test_loadings_prior_adds_its_negative_log_prior_over_the_training_cells(pancreas_small):
    """The loss is the per-cell negative ELBO plus sum(W**2) / (2 sd**2) / n_obs, exactly."""
    LinearVI.setup_anndata(pancreas_small, layer="counts")
    model = LinearVI(pancreas_small, n_latent=4, n_hidden=16, loadings_prior_sd=0.2)
    module = model.module
    with torch.no_grad():
        module.decoder.factor_loadings.weight.normal_(0, 0.3)
    tensors = next(iter(model._make_data_loader(pancreas_small, batch_size=64)))
    weight = module.decoder.factor_loadings.weight.detach()
    expected_prior = float((weight**2).sum()) / (2 * 0.2**2)

    def loss(prior_sd, n_obs, training=False):
        module.loadings_prior_sd = prior_sd
        module.train(training)  # eval: dropout off, the same ELBO with and without the prior
        torch.manual_seed(0)  # the same posterior sample of z
        return module(tensors, loss_kwargs={"n_obs": n_obs})[2]

    with_prior, flat = loss(0.2, 500), loss(None, 500)
    assert float(with_prior.kl_global_sum) == pytest.approx(expected_prior, rel=1e-5)
    assert float(flat.kl_global_sum) == 0.0
    assert float(with_prior.loss - flat.loss) == pytest.approx(expected_prior / 500, rel=1e-4)
    with pytest.raises(si.errors.InvalidArgumentError, match="n_obs"):
        loss(0.2, None, training=True)
    with pytest.raises(si.errors.InvalidArgumentError, match="loadings_prior_sd"):
        LinearVI(pancreas_small, n_latent=4, loadings_prior_sd=0.0)


def test_loadings_prior_shrinks_the_loadings_and_reaches_the_training_plan(pancreas_small):
    norms = {}
    for prior_sd in (None, 0.01):
        LinearVI.setup_anndata(pancreas_small, layer="counts")
        scvi.settings.seed = 0
        model = LinearVI(pancreas_small, n_latent=4, n_hidden=16, loadings_prior_sd=prior_sd)
        model.train(
            max_epochs=20, batch_size=128, train_size=0.8, plan_kwargs={"lr": 1e-2},
            enable_progress_bar=False,
        )  # fmt: skip
        n_train = model.trainer.lightning_module.loss_kwargs["n_obs"]
        assert n_train == len(model.train_indices) < pancreas_small.n_obs
        norms[prior_sd] = float(model.module.decoder.factor_loadings.weight.norm())
    assert norms[0.01] < 0.2 * norms[None]
