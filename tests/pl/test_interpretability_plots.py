import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

import scvi_interpret as si


def test_importance_bars_show_the_top_features_in_order(program_model, tmp_path):
    model, _ = program_model
    table = model.get_feature_importance(target=["PROG_A", "PROG_B"], n_background=30,
                                         n_samples=10)  # fmt: skip
    fig = si.pl.feature_importance(table, "PROG_A", n_top=5, return_fig=True, show=False)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    expected = table.query("target == 'PROG_A'").head(5)["feature"].tolist()
    assert labels == expected[::-1]  # largest at the top
    with pytest.raises(KeyError, match="not in the table"):
        si.pl.feature_importance(table, "NOPE", show=False)
    share = si.tl.modality_share(table)
    np.testing.assert_allclose(share.sum(1), 1.0)
    assert list(share.columns) == ["rna"]
    path = tmp_path / "share.png"
    si.pl.modality_share(share, save=path, show=False)
    assert path.stat().st_size > 1000


def test_modality_share_of_two_modalities():
    table = pd.DataFrame(
        {
            "target": ["t"] * 4,
            "modality": ["rna", "rna", "prot", "prot"],
            "feature": ["a", "b", "a", "c"],
            "mean_abs_shap": [1.0, 2.0, 1.0, 0.0],
        }
    )
    share = si.tl.modality_share(table)
    assert share.loc["t", "rna"] == pytest.approx(0.75)
    assert share.loc["t", "prot"] == pytest.approx(0.25)


def test_beeswarm_traversal_archetypes_and_deletion_figures(program_model):
    model, _ = program_model
    _, explanations = model.get_feature_importance(
        target=["PROG_A"], indices=np.arange(0, 600, 10), n_background=20, n_samples=10,
        return_explanation=True,
    )  # fmt: skip
    fig = si.pl.beeswarm(explanations["rna"], "PROG_A", max_display=8, return_fig=True,
                         show=False)  # fmt: skip
    assert len(fig.axes) >= 1
    walk, curves = model.latent_traversal(dims="PROG_A", return_curves=True)
    fig = si.pl.traversal_heatmap(walk, curves, "PROG_A", n_top=6, return_fig=True, show=False)
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert rows == walk.head(6)["feature"].tolist()
    result = model.get_archetypes(n_archetypes=3, key_added=None)
    fig = si.pl.archetypes(result, n_top=3, return_fig=True, show=False)
    assert len(fig.axes) == 4  # two heatmaps and their colour bars
    curve = model.deletion_curve("PROG_A", n_cells=30, ks=(2, 10), n_background=20,
                                 n_samples=10)  # fmt: skip
    fig = si.pl.deletion_curve(curve, return_fig=True, show=False)
    assert len(fig.axes[0].lines) == 3
