"""Reference mapping paths that had no test: what stays frozen, new categories, save/reload."""

from __future__ import annotations

import warnings

import mudata as md
import numpy as np
import pytest
import torch
from scvi.distributions import NegativeBinomial

import scvi_interpret as si
from scvi_interpret.model import LinearVI, MultimodalClassifier

pytestmark = pytest.mark.filterwarnings("ignore")
QUIET = {"enable_progress_bar": False}


def _unchanged_except_new_rows(reference: dict, query: dict) -> list[str]:
    """Names of query weights that grew (new categories); raises if any old value moved.

    A grown weight keeps the reference's values in its leading rows/columns.
    """
    grown = []
    for name, before in reference.items():
        if name.endswith("n_trained_categories"):  # bookkeeping: categories seen so far
            continue
        after = query[name]
        if after.shape == before.shape:
            assert torch.equal(after, before), name
            continue
        rows = tuple(slice(0, n) for n in before.shape)
        assert torch.equal(after[rows], before), name  # the reference's part is frozen
        grown.append(name)
    return grown


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.module.state_dict().items()}


@pytest.fixture(scope="module")
def batches(liu_rna):
    adata = liu_rna.copy()
    adata.obs["chemistry"] = np.where(adata.obs["batch"] == "B3", "v3", "v2")
    reference = adata[adata.obs["batch"].isin(["B1", "B2"])].copy()
    query = adata[adata.obs["batch"] == "B3"].copy()
    return reference, query


def test_gene_batch_dispersion_and_new_covariate_category_map_and_reload(batches, tmp_path):
    reference, query = batches
    LinearVI.setup_anndata(reference, batch_key="batch", categorical_covariate_keys=["chemistry"])
    model = LinearVI(reference, n_latent=4, n_hidden=32, dispersion="gene-batch")
    model.train(max_epochs=2, **QUIET)
    before = _state(model)
    query_model = LinearVI.load_query_data(query, model)
    query_model.train(max_epochs=2, **QUIET)
    after = _state(query_model)
    grown = _unchanged_except_new_rows(before, after)
    # one new batch (B3) and one new chemistry (v3): the dispersion per batch and both
    # offset tables grew by one row, and those rows learned
    assert "px_r" in grown and after["px_r"].shape == (reference.n_vars, 3)
    tables = [n for n in grown if "covariate_offsets" in n]
    assert len(tables) == 2 and all(after[n].shape[0] == before[n].shape[0] + 1 for n in tables)
    assert all(float(after[n][-1].abs().max()) > 0 for n in tables)
    query_model.save(tmp_path / "query")
    fresh = query.copy()
    fresh.obs = fresh.obs[[c for c in fresh.obs if not c.startswith("_scvi")]]
    fresh.uns = {}
    loaded = LinearVI.load(tmp_path / "query", adata=fresh)
    np.testing.assert_array_equal(loaded.get_latent_representation(),
                                  query_model.get_latent_representation())  # fmt: skip


@pytest.fixture(scope="module")
def mosaic_reference(data_dir):
    mdata = MultimodalClassifier.align_mudata(si.datasets.pbmc_mosaic(data_dir))
    batch = mdata.obs["batch"].astype(str)
    reference = mdata[batch != "p1_0"].copy()
    reference.obs["batch"] = reference.obs["batch"].astype(str)  # p1_0 unknown to it
    query = mdata[batch == "p1_0"].copy()
    MultimodalClassifier.setup_mudata(reference, labels_key="cell_type", batch_key="batch",
                                      modalities={"rna": "rna", "protein": "adt"})  # fmt: skip
    model = MultimodalClassifier(reference, n_latent=8, n_hidden=32)
    model.train(max_epochs=3, **QUIET)
    return model, query


def test_classifier_query_trains_only_the_new_batch_and_reloads(mosaic_reference, tmp_path):
    model, query = mosaic_reference
    before = _state(model)
    query = query.copy()
    query.obs = query.obs.drop(columns="cell_type")  # an unlabelled query, as in an atlas
    prepared = MultimodalClassifier.prepare_query_mudata(query, model)
    query_model = MultimodalClassifier.load_query_data(prepared, model)
    query_model.train(max_epochs=2, **QUIET)
    grown = _unchanged_except_new_rows(before, _state(query_model))
    # encoders, decoders, classifier and temperature frozen; only the first layers grew a
    # column for the new batch (their reference columns are checked equal above)
    assert grown and all(n.endswith("fc_layers.Layer 0.0.weight") for n in grown), grown
    predictions = query_model.predict(soft=True)
    query_model.save(tmp_path / "query")
    loaded = MultimodalClassifier.load(tmp_path / "query", adata=prepared.copy())
    np.testing.assert_allclose(loaded.predict(soft=True).to_numpy(), predictions.to_numpy(),
                               atol=1e-6)  # fmt: skip


def test_pad_query_puts_missing_features_as_zeros_in_the_reference_order(mosaic_reference):
    model, query = mosaic_reference
    proteins = model._features("protein")
    dropped = list(proteins[:5])
    partial = md.MuData({"rna": query.mod["rna"].copy(),
                         "adt": query.mod["adt"][:, ~query.mod["adt"].var_names.isin(dropped)]
                         [:, ::-1].copy()})  # fmt: skip
    partial.obs = query.obs.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        padded = MultimodalClassifier.prepare_query_mudata(partial, model)
    assert list(padded.mod["adt"].var_names) == list(proteins)  # the reference's order
    assert padded.mod["adt"][:, dropped].X.sum() == 0
    kept = [p for p in proteins if p not in dropped][:10]
    np.testing.assert_array_equal(
        np.asarray(padded.mod["adt"][:, kept].X.todense()),
        np.asarray(query.mod["adt"][:, kept].X.todense()),
    )
    assert partial.mod["adt"].n_vars == len(proteins) - 5  # the user's query is unchanged


def test_calibrate_false_keeps_the_raw_probabilities(data_dir):
    mdata = MultimodalClassifier.align_mudata(si.datasets.pbmc_mosaic(data_dir))
    MultimodalClassifier.setup_mudata(mdata, labels_key="cell_type", batch_key="batch",
                                      modalities={"rna": "rna", "protein": "adt"})  # fmt: skip
    model = MultimodalClassifier(mdata, n_latent=4, n_hidden=16)
    model.train(max_epochs=2, calibrate=False, train_size=1.0, **QUIET)
    assert float(model.module.temperature) == 1.0 and model.calibration_ is None
    model.calibrate()
    assert float(model.module.temperature) != 1.0 and model.calibration_ is not None


def test_nb_log_prob_matches_scvi_tools_on_random_inputs():
    generator = torch.Generator().manual_seed(0)
    mu = torch.rand(64, 30, generator=generator) * 20 + 1e-3
    theta = torch.rand(30, generator=generator) * 10 + 1e-2
    x = torch.poisson(mu, generator=generator)
    x[torch.rand(64, 30, generator=generator) < 0.5] = 0  # mostly zeros, like cells
    ours = si.nn.nb_log_prob(x, mu, theta)
    reference = NegativeBinomial(mu=mu, theta=theta.expand_as(mu)).log_prob(x)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)
    per_cell_theta = theta.expand_as(mu).contiguous()
    torch.testing.assert_close(si.nn.nb_log_prob(x, mu, per_cell_theta), reference,
                               rtol=1e-5, atol=1e-5)  # fmt: skip


def test_nb_log_prob_gradients_match_scvi_tools():
    """The gradients training uses (mean and per-gene inverse dispersion) are scvi-tools'."""
    generator = torch.Generator().manual_seed(1)
    x = torch.poisson(torch.rand(64, 30, generator=generator) * 20, generator=generator)
    x[torch.rand(64, 30, generator=generator) < 0.6] = 0
    gradients = []
    for log_prob in (
        lambda mu, theta: si.nn.nb_log_prob(x, mu, theta),
        lambda mu, theta: NegativeBinomial(mu=mu, theta=theta.expand_as(mu)).log_prob(x),
    ):
        mu = torch.rand(64, 30, generator=torch.Generator().manual_seed(2)) * 20 + 1e-3
        theta = torch.rand(30, generator=torch.Generator().manual_seed(3)) * 10 + 1e-2
        mu.requires_grad_(), theta.requires_grad_()
        log_prob(mu, theta).sum().backward()
        gradients.append((mu.grad, theta.grad))
    (ours_mu, ours_theta), (their_mu, their_theta) = gradients
    torch.testing.assert_close(ours_mu, their_mu, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours_theta, their_theta, rtol=1e-4, atol=1e-4)
