import numpy as np
import pytest

from scvi_interpret.model import LinearVI
from synthetic_programs import GAINED_GENE, PROGRAMS

TRAIN = {"train_size": 1.0, "enable_progress_bar": False}


def test_planted_genes_drive_their_program(program_model):
    model, adata = program_model
    cells = np.flatnonzero(np.arange(adata.n_obs) % 4 == 0)  # 150 cells of every group
    table = model.get_feature_importance(
        indices=cells, target=["PROG_A", "PROG_B"], n_background=64, n_samples=64
    )
    assert list(table.columns) == [
        "target", "modality", "feature", "mean_shap", "mean_abs_shap", "rank", "modality_rank",
        "n_cells", "rank_ci_low", "rank_ci_high", "value_shap_correlation", "direction",
    ]  # fmt: skip
    assert set(table["modality"]) == {"rna"} and len(table) == 2 * adata.n_vars
    assert table.attrs["additivity_error"] < 0.1
    for program in ["PROG_A", "PROG_B"]:
        top = table.query("target == @program").head(16)["feature"]
        planted = {f"g{i}" for i in PROGRAMS[program]} | (
            {f"g{GAINED_GENE}"} if program == "PROG_A" else set()
        )
        assert len(set(top) & planted) >= 12, (program, top.tolist())
        # planted genes raise their program's activity: more counts, more activity
        on_top = table.query("target == @program").head(8)
        assert (on_top["direction"] == "high").all(), on_top[["feature", "direction"]]


def test_explanation_and_key_added(program_model):
    model, adata = program_model
    _table, explanations = model.get_feature_importance(
        indices=[0, 1, 250, 450], target="PROG_A", n_background=64, n_samples=64,
        return_explanation=True, key_added="shap_programs",
    )  # fmt: skip
    explanation = explanations["rna"]
    assert explanation.values.shape == (4, adata.n_vars, 1)
    assert explanation.feature_names == list(adata.var_names)
    # per-cell values add up to the activity minus the base value (Monte-Carlo tolerance)
    activity = model.get_program_activity()["PROG_A"].to_numpy()[[0, 1, 250, 450]]
    total = explanation.values[:, :, 0].sum(1) + explanation.base_values[:, 0]
    np.testing.assert_allclose(total, activity, atol=0.15 * np.abs(activity).max())
    assert adata.varm["shap_programs"].shape == (adata.n_vars, 1)
    assert adata.uns["shap_programs"]["method"] == "expected_gradients"


def test_linear_vi_factors_on_real_data(pancreas_small):
    LinearVI.setup_anndata(pancreas_small, layer="counts", labels_key="cell_type")
    model = LinearVI(pancreas_small, n_latent=4, n_hidden=32)
    model.train(max_epochs=2, **TRAIN)
    table = model.get_feature_importance(indices=np.arange(40), n_background=20, n_samples=8)
    assert len(table) == 4 * pancreas_small.n_vars
    assert table.groupby("target")["rank"].min().eq(1).all()
    assert np.isfinite(table["mean_abs_shap"]).all() and table["mean_abs_shap"].max() > 0


def test_bad_requests_raise(program_model):
    model, _adata = program_model
    with pytest.raises(KeyError, match="Unknown target"):
        model.get_feature_importance(target="NOT_A_PROGRAM")
    with pytest.raises(ValueError, match="larger than the 600 cells"):
        model.get_feature_importance(n_background=601)
    with pytest.raises(IndexError, match="indices must lie in"):
        model.get_feature_importance(indices=[0, 600])
