import numpy as np
import scvi

import scvi_interpret as si
from scvi_interpret.model import ProgramVI
from synthetic_programs import prior_mask, simulate


def test_deletion_of_top_genes_lowers_the_activity(program_model):
    model, adata = program_model
    cells = np.flatnonzero(adata.obs["group"] == "a")[:60]
    curve = model.deletion_curve("PROG_A", indices=cells, ks=(2, 5, 10), n_background=40,
                                 n_samples=40)  # fmt: skip
    assert list(curve["k"]) == [2, 5, 10]
    assert (curve["output_top"] < curve["output_random"]).all()
    ten = curve.set_index("k").loc[10]
    assert ten["output_full"] - ten["output_top"] > 3 * (ten["output_full"] - ten["output_random"])


def test_randomised_encoder_gives_other_attributions(program_model):
    model, _adata = program_model
    before = model.get_program_activity()
    check = model.randomization_check(target=["PROG_A", "PROG_B"], indices=np.arange(0, 600, 5),
                                      n_background=40, n_samples=20)  # fmt: skip
    assert list(check["target"]) == ["PROG_A", "PROG_B"]
    assert check["passed"].all() and (check["spearman"] < 0.5).all()
    assert (check["top_overlap"] < 0.5).all()
    # the model itself is unchanged
    np.testing.assert_array_equal(model.get_program_activity().to_numpy(), before.to_numpy())


def test_attributions_agree_across_training_seeds(program_model):
    model, _adata = program_model
    tables = [model.get_feature_importance(target="PROG_A", n_background=40, n_samples=20)]
    other_data = simulate()
    scvi.settings.seed = 7
    ProgramVI.setup_anndata(other_data, layer="counts", labels_key="group")
    other = ProgramVI(other_data, gene_programs=prior_mask(other_data.var_names), min_genes=5,
                      n_hidden=32)  # fmt: skip
    other.train(max_epochs=80, train_size=1.0, enable_progress_bar=False)
    tables.append(other.get_feature_importance(target="PROG_A", n_background=40, n_samples=20))
    agreement = si.tl.rank_agreement(tables, n_top=15)
    assert agreement.loc[0, "top_overlap"] > 0.5 and agreement.loc[0, "spearman"] > 0.3
    shuffled = tables[0].copy()
    shuffled["mean_abs_shap"] = np.random.default_rng(0).permutation(shuffled["mean_abs_shap"])
    assert si.tl.rank_agreement([tables[0], shuffled]).loc[0, "spearman"] < 0.3
    same = si.tl.rank_agreement([tables[0], tables[0]])
    assert same.loc[0, "spearman"] == 1.0 and same.loc[0, "top_overlap"] == 1.0
