import re
import shutil

import pandas as pd

from scvi_interpret.cli import main

TABLES = [
    "predictions.csv",
    "feature_importance.csv",
    "modality_share.csv",
    "traversal.csv",
    "archetypes.csv",
    "archetype_weights.csv",
]


def test_demo_writes_the_multimodal_report(tmp_path):
    argv = ["demo", "--out", str(tmp_path), "--max-epochs", "3", "--n-archetypes", "3"]
    assert main(argv) == 0
    for name in [*TABLES, "report.html", "summary.txt"]:
        assert (tmp_path / name).stat().st_size > 0, name
    predictions = pd.read_csv(tmp_path / "predictions.csv", index_col=0)
    assert len(predictions) == 1600
    assert set(predictions["measured"]) == {"RNA only", "ADT only", "RNA + ADT"}
    assert predictions["confidence"].between(0, 1).all()
    importance = pd.read_csv(tmp_path / "feature_importance.csv")
    assert set(importance["modality"]) == {"rna", "protein"}
    assert set(importance["target"]) <= set(predictions["prediction"])
    share = pd.read_csv(tmp_path / "modality_share.csv", index_col=0)
    assert ((share.sum(1) - 1).abs() < 1e-6).all()
    assert pd.read_csv(tmp_path / "archetype_weights.csv", index_col=0).shape == (1600, 3)
    report = (tmp_path / "report.html").read_text()
    for heading in ["Predictions", "Feature importance", "Latent traversal", "Archetypes"]:
        assert f">{heading}" in report, heading
    n_images = len(re.findall(r'src="data:image/png;base64,', report))
    n_classes = importance["target"].nunique()
    # latent, confusion, modality share, one per class, 2 dims × 2 modalities, 2 archetype
    assert n_images == 3 + n_classes + 4 + 2


def test_console_script_is_installed():
    assert shutil.which("scvi-interpret") is not None
