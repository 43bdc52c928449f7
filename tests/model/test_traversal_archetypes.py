import numpy as np
import pytest

from scvi_interpret.model import LinearVI
from synthetic_programs import GAINED_GENE, PROGRAMS

TRAIN = {"train_size": 1.0, "enable_progress_bar": False}


def test_linear_vi_traversal_agrees_with_loadings(pancreas_small):
    LinearVI.setup_anndata(pancreas_small, layer="counts")
    model = LinearVI(pancreas_small, n_latent=4, n_hidden=32)
    model.train(max_epochs=3, **TRAIN)
    table = model.latent_traversal(dims=["factor_1", "factor_3"])
    loadings = model.get_loadings()
    for factor in ["factor_1", "factor_3"]:
        lfc = table.query("dimension == @factor").set_index("feature")["log2_fold_change"]
        r = np.corrcoef(lfc.loc[loadings.index], loadings[factor])[0, 1]
        assert r > 0.999, (factor, r)
    with pytest.raises(KeyError, match="Unknown dimension"):
        model.latent_traversal(dims="factor_9")


def test_program_traversal_raises_its_genes(program_model):
    model, _ = program_model
    table = model.latent_traversal(dims="PROG_A")
    top = table.head(15)
    assert set(top["feature"]) <= {f"g{i}" for i in PROGRAMS["PROG_A"]}
    assert (top["log2_fold_change"] > 0.5).all()  # sign-aligned: the program's genes go up


def test_archetypes_of_the_planted_groups(program_model):
    model, adata = program_model
    before = set(adata.obsm)
    model.get_archetypes(n_archetypes=3)
    assert set(adata.obsm) == before  # nothing written unless asked
    result = model.get_archetypes(n_archetypes=3, key_added="arch")
    assert adata.obsm["arch"].shape == (adata.n_obs, 3)
    np.testing.assert_allclose(result.weights.sum(1), 1.0, atol=1e-6)
    association = result.label_association
    assert set(association.index) == {"a", "b", "none"}
    archetype_a = association.loc["a"].idxmax()
    assert archetype_a != association.loc["b"].idxmax()
    up = result.top_features.query("archetype == @archetype_a and log2_fold_change > 0")
    planted = {f"g{i}" for i in PROGRAMS["PROG_A"]} | {f"g{GAINED_GENE}"}
    assert len(set(up["feature"].head(10)) & planted) >= 8
