"""The benchmarks run from one command and write complete, seeded, like-for-like results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.__main__ import COMPARISONS, COST_GROWTH  # noqa: E402
from benchmarks._factor_metrics import factor_aurocs  # noqa: E402

VERDICTS = {"ours ahead", "peer ahead", "within noise"}


def check_results(payload: dict, min_seeds: int) -> None:
    """Seeds, one configuration per row, mean ± sd over every seed, consistent verdicts."""
    seeds = [str(s) for s in payload["seeds"]]
    assert len(seeds) >= min_seeds
    assert payload["command"].startswith("SCVI_INTERPRET_DATA=")
    assert {"python", "torch", "scvi-tools", "cpu_threads"} <= set(payload["environment"])
    assert payload["rows"]
    for name, row in payload["rows"].items():
        assert isinstance(row["configuration"], str) and row["configuration"], name
        assert row["role"] in {"ours", "ours variant", "peer", "peer default", "baseline"}, name
        assert sorted(row["per_seed"]) == sorted(seeds), name
        assert row["summary"], name
        for metric, value in row["summary"].items():
            assert {"mean", "sd", "n"} <= set(value), (name, metric)
            assert value["n"] == len(seeds) or metric not in row["per_seed"][seeds[0]]
            assert value["sd"] >= 0
    for c in payload["comparisons"]:
        assert c["verdict"] in VERDICTS
        beyond = abs(c["difference"]) > 2 * c["sd"]
        assert (c["verdict"] != "within noise") == beyond, c
        assert c["ours"] in payload["rows"] and c["peer"] in payload["rows"]


@pytest.mark.parametrize("name", COMPARISONS)
def test_committed_results_are_seeded_like_for_like(name):
    payload = json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())
    assert payload["quick"] is False
    check_results(payload, min_seeds=3)
    assert any(row["role"] == "peer" for row in payload["rows"].values())


SUPPLEMENTARY = sorted((ROOT / "benchmarks" / "results").glob("*/*.json"))


@pytest.mark.parametrize("path", SUPPLEMENTARY, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_supplementary_results_are_seeded_and_rerun_into_their_folder(path):
    """Extra runs (ablations, more seeds) in a subfolder: as complete as the main results,
    and their recorded command writes into that subfolder, not over the main results."""
    payload = json.loads(path.read_text())
    assert payload["quick"] is False
    check_results(payload, min_seeds=3)
    folder = path.parent.relative_to(ROOT).as_posix()
    assert payload["command"].endswith(f"--results-dir {folder}")
    assert path.with_suffix(".md").exists()


# per cost-growth benchmark: its measured runs, and the (size, configuration) of each run
COST_GROWTH_RUNS = {
    "nb_log_prob": (lambda runs: runs, lambda run: (run["batch_size"],)),
    "scale": (lambda runs: runs, lambda run: (run["size"], run["path"], run["model"])),
    "attribution_scale": (
        lambda runs: runs["importance"],
        lambda run: (run["size"], run["model"], run["mode"]),
    ),
}


@pytest.mark.parametrize("name", COST_GROWTH)
def test_committed_cost_growth_results_have_seeds_per_size(name):
    """Each size (and configuration) measured with >= 3 seeds, and the command and machine."""
    payload = json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())
    commands = payload.get("commands") or [payload["command"]]
    assert all(c.startswith(("python benchmarks/", "SCVI_INTERPRET_DATA=")) for c in commands)
    assert {"python", "torch", "scvi-tools", "cpu_threads"} <= set(payload["environment"])
    measured, key = COST_GROWTH_RUNS[name]
    seeds: dict[tuple, set] = {}
    for run in measured(payload["runs"]):
        seeds.setdefault(key(run), set()).add(run["seed"])
    assert len({size for size, *_ in seeds}) >= 2, "cost growth needs several sizes"
    assert all(len(s) >= 3 for s in seeds.values()), seeds


def test_runner_has_no_quick_mode_for_cost_growth(capsys):
    from benchmarks.__main__ import main

    with pytest.raises(SystemExit):
        main(["scale", "--quick"])
    assert "no --quick mode" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_mode_runs_every_benchmark(tmp_path, data_dir):
    environment = os.environ | {"SCVI_INTERPRET_DATA": str(data_dir)}
    subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--results-dir", str(tmp_path)],
        cwd=ROOT, env=environment, check=True,
    )  # fmt: skip
    for name in COMPARISONS:
        payload = json.loads((tmp_path / f"{name}.json").read_text())
        assert payload["quick"] is True
        # the recorded command reruns the run as it was: quick, into the same folder
        assert payload["command"].endswith(f"--quick --results-dir {tmp_path}")
        check_results(payload, min_seeds=2)
        assert (tmp_path / f"{name}.md").read_text().count("±") >= len(payload["rows"])


def test_factor_page_renders_from_its_committed_json(tmp_path, data_dir):
    """The committed page is what its JSON renders to (the summary picks the right rows)."""
    results = ROOT / "benchmarks" / "results"
    (tmp_path / "factor_interpretability.json").write_text(
        (results / "factor_interpretability.json").read_text()
    )
    environment = os.environ | {"SCVI_INTERPRET_DATA": str(data_dir)}
    subprocess.run(
        [sys.executable, "benchmarks/factor_interpretability.py", "--render",
         "--results-dir", str(tmp_path)],
        cwd=ROOT, env=environment, check=True, capture_output=True,
    )  # fmt: skip
    page = (tmp_path / "factor_interpretability.md").read_text()
    assert page == (results / "factor_interpretability.md").read_text()
    summary = page.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert summary.count("(ours, default)") == 3  # one per data set
    assert summary.count("(best as LinearSCVI reads it)") == 3
    assert "LinearSCVI (observed library) — W (log units), varimax (best as" not in summary


def test_factor_aurocs_equal_scikit_learn_with_ties():
    """The vectorised rank-sum AUROC of the factor benchmark is scikit-learn's, ties included."""
    rng = np.random.default_rng(0)
    latent = np.column_stack([rng.normal(size=300), rng.integers(0, 3, 300), np.zeros(300)])
    is_type = rng.random(300) < 0.2
    latent[is_type, 0] += 1.0
    expected = [roc_auc_score(is_type, column) for column in latent.T]
    got = factor_aurocs(rankdata(latent, axis=0), is_type)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert got[0] > 0.7 and got[2] == 0.5


def test_kaiser_varimax_is_blind_to_gene_scale_and_finds_planted_factors():
    """The benchmark's Kaiser rotation: each gene's row counts the same, whatever its size.

    Slopes with planted simple structure (each gene on one factor, plus noise), turned by a
    random rotation and with per-gene scales spread over four orders of magnitude: the
    rotation undoes the turn, and rescaling the genes leaves it unchanged.
    """
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from factor_interpretability import N_LATENT, kaiser_varimax

    rng = np.random.default_rng(0)
    n_genes = 400
    planted = np.zeros((n_genes, N_LATENT))
    planted[np.arange(n_genes), np.arange(n_genes) % N_LATENT] = rng.uniform(1, 2, n_genes)
    planted += 0.05 * rng.normal(size=planted.shape)
    turn, _ = np.linalg.qr(rng.normal(size=(N_LATENT, N_LATENT)))
    scales = 10 ** rng.uniform(-2, 2, size=(n_genes, 1))

    def linear_decoder(slopes: np.ndarray):
        matrix = torch.as_tensor(slopes, dtype=torch.float64)
        return lambda z: matrix @ z.double()

    rotation = kaiser_varimax(linear_decoder(scales * planted @ turn))
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(N_LATENT), atol=1e-8)
    unscaled = kaiser_varimax(linear_decoder(planted @ turn))
    np.testing.assert_allclose(rotation, unscaled, atol=1e-6)
    recovered = planted @ turn @ rotation
    correlation = np.abs(np.corrcoef(recovered.T, planted.T)[:N_LATENT, N_LATENT:])
    assert (correlation.max(axis=1) > 0.98).all()
