import numpy as np
import pandas as pd
import pytest
import scvi
import torch
from sklearn.metrics import roc_auc_score

import scvi_interpret as si
from scvi_interpret.model import ProgramVI
from synthetic_programs import GAINED_GENE, PROGRAMS, QUERY_PROGRAM, prior_mask, simulate

TRAIN = {"train_size": 1.0, "enable_progress_bar": False}


def _train(adata, mask, epochs=80, **kwargs):
    scvi.settings.seed = 0
    ProgramVI.setup_anndata(adata, layer="counts", batch_key=kwargs.pop("batch_key", None))
    model = ProgramVI(adata, gene_programs=mask, min_genes=5, n_hidden=32, **kwargs)
    model.train(max_epochs=epochs, **TRAIN)
    return model


@pytest.fixture(scope="module")
def hard_model():
    adata = simulate()
    return _train(adata, prior_mask(adata.var_names)), adata


def test_planted_programs_are_recovered_and_silent_ones_switched_off(hard_model):
    model, adata = hard_model
    activity = model.get_program_activity(key_added="programs")
    assert list(activity.columns) == list(PROGRAMS)
    assert adata.obsm["programs"].shape == (adata.n_obs, len(PROGRAMS))
    # sign-aligned: higher activity = the program's genes are up
    assert roc_auc_score(adata.obs["group"] == "a", activity["PROG_A"]) > 0.9
    assert roc_auc_score(adata.obs["group"] == "b", activity["PROG_B"]) > 0.9
    summary = model.program_summary()
    assert summary.loc[["PROG_A", "PROG_B"], "active"].all()
    assert not summary.loc[["PROG_SILENT_C", "PROG_SILENT_D"], "active"].any()
    assert model.get_program_activity(active_only=True).columns.tolist() == ["PROG_A", "PROG_B"]


def test_hard_mask_is_exact_after_training(hard_model):
    model, _ = hard_model
    layer = model.module.decoder.factor_loadings
    outside = ~layer.mask
    assert torch.count_nonzero(layer.weight[outside]) == 0
    assert torch.count_nonzero(model.module.decoder.loadings()[outside]) == 0
    genes = model.get_program_genes("PROG_A")
    assert genes["in_prior_mask"].all() and len(genes) == 15
    assert (genes["weight"] > 0).all()  # every planted gene goes up with the program
    assert model.gained_genes().empty


def test_expression_loadings_of_a_program(hard_model):
    """Loadings per unit of the sign-aligned activity; outside a program only dilution."""
    model, _ = hard_model
    expression = model.get_loadings(units="expression")["PROG_A"]
    log_units = model.get_loadings()["PROG_A"]
    inside = log_units != 0
    assert inside.sum() == 15 and (log_units[inside] > 0).all()  # as get_program_genes
    assert (expression[inside] > 0).all()
    # a gene outside the program only loses share as the program's genes gain it
    assert (expression[~inside] <= 0).all()
    assert abs(expression.sum()) < 1e-3


def test_soft_mask_gains_the_planted_gene_only():
    adata = simulate()
    model = _train(adata, prior_mask(adata.var_names), epochs=100, mask_type="soft")
    gained = model.gained_genes()
    assert gained.iloc[0][["program", "gene"]].tolist() == ["PROG_A", f"g{GAINED_GENE}"]
    top = gained.iloc[0]["weight"]
    in_program = model.get_program_genes("PROG_A").query("in_prior_mask")["weight"].median()
    # "of note" = comparable to a program's own loadings: the planted gene is, nothing else is
    assert top > 0.25 * in_program
    others = gained["weight"].abs().iloc[1:]
    assert others.empty or others.max() < 0.25 * in_program
    assert model.program_summary().loc["PROG_A", "n_genes_gained"] >= 1


def test_differential_program_activity(hard_model):
    model, _adata = hard_model
    table = model.differential_program_activity("group")
    assert set(table.columns) >= {
        "group1",
        "group2",
        "program",
        "effect_size",
        "bayes_factor",
        "proba_change",
        "is_changed",
        "active",
    }
    a_vs_rest = table[table["group1"] == "a"].set_index("program")
    assert a_vs_rest.loc["PROG_A", "is_changed"] and a_vs_rest.loc["PROG_A", "effect_size"] > 1
    assert a_vs_rest.loc["PROG_A", "bayes_factor"] > 3
    assert not a_vs_rest.loc["PROG_SILENT_C", "is_changed"]
    b_vs_a = model.differential_program_activity("group", group1=["b"], group2="a")
    assert b_vs_a.set_index("program").loc["PROG_B", "effect_size"] > 1
    with pytest.raises(ValueError, match="do not occur"):
        model.differential_program_activity("group", group1=["zzz"])


def test_differential_activity_in_chunks_is_exact(hard_model, monkeypatch):
    """Streamed over chunks of 97 cells, the statistics equal those of all cells at once."""
    import scvi_interpret.model.program_vi._model as program_vi_model
    from scvi_interpret.tl import differential_activity

    model, adata = hard_model
    means, variances = model.get_latent_representation(return_dist=True)
    direct = differential_activity(
        means * model.program_directions().to_numpy(), variances,
        adata.obs["group"].to_numpy(), model.program_names,
    )  # fmt: skip
    monkeypatch.setattr(program_vi_model, "DIFFERENTIAL_CHUNK", 97)
    chunked = model.differential_program_activity("group")
    assert chunked.attrs["n_cells"] == adata.n_obs
    for column in ["mean1", "mean2", "effect_size", "bayes_factor", "proba_change"]:
        np.testing.assert_allclose(chunked[column], direct[column], rtol=1e-6, atol=1e-9)
    assert (chunked["is_changed"] == direct["is_changed"]).all()
    with pytest.raises(KeyError, match="groupby='nope'"):
        model.differential_program_activity("nope")


def test_save_load_identical(hard_model, tmp_path):
    model, adata = hard_model
    model.save(tmp_path / "m", save_anndata=False)
    loaded = ProgramVI.load(tmp_path / "m", adata=adata)
    pd.testing.assert_frame_equal(loaded.get_program_activity(), model.get_program_activity())
    assert torch.equal(
        loaded.module.decoder.factor_loadings.mask, model.module.decoder.factor_loadings.mask
    )
    assert loaded.program_names == model.program_names


def test_query_learns_a_new_program_and_keeps_the_reference():
    data = simulate(query_program=True)
    data.obs["batch"] = np.where(data.obs["group"] == "q", "query", "reference")
    data.obs.loc[data.obs_names[data.obs["group"] == "none"][:100], "batch"] = "query"
    reference = data[data.obs["batch"] == "reference"].copy()
    query = data[data.obs["batch"] == "query"].copy()
    ref_model = _train(reference, prior_mask(reference.var_names), batch_key="batch")
    frozen = ref_model.module.decoder.factor_loadings.weight.detach().clone()

    query_model = ProgramVI.load_query_data(query, ref_model, new_n_unconstrained=1)
    assert query_model.program_names[-1] == "unconstrained_0"
    query_model.train(max_epochs=100, **TRAIN)
    weight = query_model.module.decoder.factor_loadings.weight.detach()
    assert torch.equal(weight[:, : frozen.shape[1]], frozen)
    new_genes = query_model.get_program_genes("unconstrained_0")
    top = set(new_genes["gene"].head(10))
    assert len(top & {f"g{i}" for i in QUERY_PROGRAM}) >= 8
    activity = query_model.get_program_activity()
    assert roc_auc_score(query.obs["group"] == "q", activity["unconstrained_0"]) > 0.9


def test_real_pancreas_with_reactome(pancreas_small, gmt_dir):
    sets = si.genesets.read_gmt(gmt_dir / "c2.cp.reactome.v7.5.1.symbols.gmt")
    mask = si.genesets.build_mask(pancreas_small.var_names, sets, min_genes=8)
    assert mask.shape[1] >= 10
    ProgramVI.setup_anndata(pancreas_small, layer="counts")
    model = ProgramVI(pancreas_small, gene_programs=mask, min_genes=8, n_unconstrained=2)
    model.train(max_epochs=3, **TRAIN)
    activity = model.get_program_activity()
    assert activity.shape == (pancreas_small.n_obs, mask.shape[1] + 2)
    assert np.isfinite(activity.to_numpy()).all()
    # the gene sets can be given directly, as a GMT path
    direct = ProgramVI(
        pancreas_small, gene_programs=gmt_dir / "c2.cp.reactome.v7.5.1.symbols.gmt", min_genes=8
    )
    assert direct.program_names == list(mask.columns)


def test_bad_programs_raise(planted):
    adata, mask = planted
    ProgramVI.setup_anndata(adata, layer="counts")
    with pytest.raises(ValueError, match=r"do not match adata\.var_names"):
        ProgramVI(adata, gene_programs=mask.iloc[5:], min_genes=5)
    with pytest.raises(ValueError, match="fewer than min_genes=20"):
        ProgramVI(adata, gene_programs=mask, min_genes=20)
    with pytest.raises(ValueError, match="empty"):
        ProgramVI(adata, gene_programs=mask & False, min_genes=1)
    duplicated = mask.copy()
    duplicated.columns = ["P", "P", "Q", "R"]
    with pytest.raises(ValueError, match="duplicated"):
        ProgramVI(adata, gene_programs=duplicated, min_genes=5)
    with pytest.raises(ValueError, match=r"neither a key of adata\.varm"):
        ProgramVI(adata, gene_programs="no_such_key", min_genes=5)
    model = ProgramVI(adata, gene_programs=mask, min_genes=5)
    with pytest.raises(KeyError, match="Did you mean"):
        model.get_program_genes("PROG")


def test_a_mask_from_build_mask_is_taken_as_built(pancreas_small, gmt_dir):
    """Defaults agree: build_mask(min_genes=5) masks are not re-filtered by ProgramVI."""
    ProgramVI.setup_anndata(pancreas_small, layer="counts")
    mask = si.genesets.build_mask(pancreas_small.var_names, gmt_dir / "h.all.v7.5.1.symbols.gmt",
                                  min_genes=5)  # fmt: skip
    assert (mask.sum() < 12).any()  # programs the gene-set default (12) would drop
    model = ProgramVI(pancreas_small, gene_programs=mask, n_hidden=16)
    assert model.program_names[: mask.shape[1]] == list(mask.columns)
    from_sets = ProgramVI(pancreas_small, gene_programs=gmt_dir / "h.all.v7.5.1.symbols.gmt",
                          n_hidden=16)  # fmt: skip
    sizes = from_sets.program_mask.sum()
    assert (sizes >= 12).all() and len(sizes) < mask.shape[1]
