import re
import subprocess

import pandas as pd
import pytest

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


def test_console_script_runs_and_reports_the_version():
    import scvi_interpret

    done = subprocess.run(["scvi-interpret", "--version"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"scvi-interpret {scvi_interpret.__version__}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-epochs", "-1"], "--max-epochs: -1 is below the smallest value, 1"),
        (["--max-epochs", "0"], "--max-epochs: 0 is below the smallest value, 1"),
        (["--max-epochs", "ten"], "--max-epochs: 'ten' is not a whole number"),
        (["--n-archetypes", "1"], "--n-archetypes: 1 is below the smallest value, 2"),
        (["--n-latent", "0"], "--n-latent: 0 is below the smallest value, 2"),
    ],
)
def test_bad_demo_arguments_are_refused_before_training(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--out", str(tmp_path / "new"), *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # nothing made


def test_demo_refuses_to_overwrite_files(tmp_path, capsys):
    (tmp_path / "report.html").write_text("the user's own report")
    with pytest.raises(SystemExit):
        main(["demo", "--out", str(tmp_path), "--max-epochs", "1"])
    assert "already holds files" in capsys.readouterr().err
    assert (tmp_path / "report.html").read_text() == "the user's own report"
    a_file = tmp_path / "report.html"
    with pytest.raises(SystemExit):
        main(["demo", "--out", str(a_file)])
    assert "is a file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--out", str(a_file / "below")])
    assert "cannot be created" in capsys.readouterr().err
