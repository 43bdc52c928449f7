"""Interpretation at atlas scale: sampled global importance and archetypes, 3·10⁴–10⁶ cells.

Data: the Liu CITE-seq RNA resampled to 30,000, 122,000 and 1,000,000 cells (binomially
thinned copies, see ``_scale_data.py``), written to the cache folder as h5ad and TileDB-SOMA,
never into the repository. Models: ``LinearVI`` (20 factors, 128 hidden units) and
``MultimodalClassifier`` (RNA, 17 cell types), both trained 3 epochs on the 30,000-cell set in
memory; every measurement reads the SOMA store through ``si.data.SomaDataModule``.

Measured, each in its own process (peak memory per run):

- ``importance``: ``get_feature_importance(datamodule=…)`` with the default ``n_cells="auto"``
  at every size and seed (time, sample size, rounds, peak memory), with 20 background cells and
  ``n_samples=20`` (one path sample per background cell) so that a full pass at 122,000 cells
  fits the session; the per-cell cost of the default ``n_samples=120`` is measured as well
  (``default``: one run at 10⁶ cells with the default settings).
- ``full``: the full pass (``n_cells="all"``) at 122,000 cells, same settings: the reference
  for the top-20 overlap per target and for the coverage of the rank intervals.
- ``archetypes``: ``si.tl.archetypal_analysis`` (automatic k) on the LinearVI latents of
  122,000 and 10⁶ cells, against the ``archetypes`` package on the demo's 1,600 cells
  (explained variance per k, archetype positions) and the demo's archetype step.

Run: ``python benchmarks/attribution_scale.py`` (about 45 minutes on 2 cores; the peer needs
``pip install archetypes``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIZES = [30_000, 122_000, 1_000_000]
TRAIN_SIZE = 30_000
SETTINGS = {"n_background": 20, "n_samples": 20}
N_TOP = 20


def _data_dir() -> Path:
    return Path(os.environ.get("SCVI_INTERPRET_DATA", HERE.parents[1] / "shared/data"))


def _model_dir(name: str) -> Path:
    from _scale_data import cache_dir

    return cache_dir() / "attribution_scale" / name


def _peak_rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


# ---------------------------------------------------------------- workers
def train(name: str, seed: int) -> dict:
    """Train a model on the 30,000-cell set in memory and save it (no AnnData)."""
    import anndata as ad
    import mudata as md
    import scvi

    import scvi_interpret as si
    from _scale_data import ensure

    scvi.settings.seed = seed
    adata = ad.read_h5ad(ensure(TRAIN_SIZE, _data_dir())["h5ad"])
    quiet = {"enable_progress_bar": False, "max_epochs": 3, "batch_size": 512}
    start = time.perf_counter()
    if name == "LinearVI":
        si.model.LinearVI.setup_anndata(adata, batch_key="batch")
        model = si.model.LinearVI(adata, n_latent=20, n_hidden=128)
    elif name == "ProgramVI":
        si.model.ProgramVI.setup_anndata(adata, batch_key="batch")
        hallmark = _data_dir() / "genesets" / "h.all.v7.5.1.symbols.gmt"
        model = si.model.ProgramVI(adata, gene_programs=hallmark, min_genes=8, n_hidden=128)
    else:
        mdata = md.MuData({"RNA": adata})
        mdata.obs = adata.obs.copy()
        si.model.MultimodalClassifier.setup_mudata(
            mdata, labels_key="cell_type", batch_key="batch", modalities={"rna": "RNA"}
        )
        model = si.model.MultimodalClassifier(mdata, n_latent=20, n_hidden=128)
    model.train(**quiet)
    model.save(_model_dir(name), overwrite=True, save_anndata=False)
    return {"model": name, "train_seconds": time.perf_counter() - start}


def _load(name: str, size: int):
    import scvi_interpret as si
    from _scale_data import ensure

    cls = getattr(si.model, name)
    model = cls.load(_model_dir(name), adata=False)
    uri = str(ensure(size, _data_dir())["soma"])
    extra = {"measurement": "RNA"} if name != "MultimodalClassifier" else {}
    return model, si.data.SomaDataModule(uri, reference=model, **extra)


def importance(name: str, size: int, seed: int, mode: str) -> dict:
    """One global importance from disk: sampled (``auto``, ``default``) or ``full``."""
    model, dm = _load(name, size)
    settings = {} if mode == "default" else dict(SETTINGS)
    if mode == "full":
        settings["n_cells"] = "all"
    start = time.perf_counter()
    table = model.get_feature_importance(datamodule=dm, seed=seed, **settings)
    seconds = time.perf_counter() - start
    sampling = table.attrs["sampling"]
    columns = ["target", "feature", "mean_abs_shap", "rank", "rank_ci_low", "rank_ci_high",
               "n_cells"]  # fmt: skip
    top = table[table["rank"] <= 200][columns]
    return {
        "model": name, "size": size, "n_cells_available": dm.n_obs, "seed": seed, "mode": mode,
        "seconds": seconds, "n_cells": sampling["n_cells"], "n_rounds": sampling["n_rounds"],
        "stable": sampling["stable"], "strata": sampling["strata"],
        "min_top_k_stability": min(sampling["top_k_stability"].values()),
        "n_targets": int(table["target"].nunique()),
        "seconds_per_cell": seconds / sampling["n_cells"],
        "peak_rss_gb": _peak_rss_gb(),
        "additivity_error": table.attrs["additivity_error"],
        "top": top.to_dict(orient="list"),
    }  # fmt: skip


def archetypes_at_scale(size: int, seed: int) -> dict:
    """Automatic-k archetypes on the LinearVI latents of ``size`` cells."""
    import scvi_interpret as si

    cached = _model_dir("LinearVI") / f"latent_{size}.npy"
    if not cached.exists():
        model, dm = _load("LinearVI", size)
        np.save(cached, model.get_latent_representation(datamodule=dm))
    latent = np.load(cached)
    start = time.perf_counter()
    fit = si.tl.archetypal_analysis(latent, seed=seed)
    seconds = time.perf_counter() - start
    return {"size": size, "n_cells": len(latent), "seed": seed, "seconds": seconds,
            "n_archetypes": fit.n_archetypes, "n_fit_cells": fit.n_fit_cells,
            "explained_variance": {str(k): v for k, v in fit.explained_variance.items()},
            "peak_rss_gb": _peak_rss_gb()}  # fmt: skip


def archetypes_on_demo(seed: int) -> dict:
    """Ours against the ``archetypes`` package on the demo model's 1,600 cells."""
    import contextlib
    import io

    import scvi
    from scipy.optimize import linear_sum_assignment

    import scvi_interpret as si

    with contextlib.redirect_stdout(io.StringIO()):
        import archetypes

    scvi.settings.seed = seed
    mdata = si.model.MultimodalClassifier.align_mudata(si.datasets.pbmc_mosaic())
    si.model.MultimodalClassifier.setup_mudata(
        mdata, labels_key="cell_type", batch_key="batch",
        modalities={"rna": "rna", "protein": "adt"},
    )  # fmt: skip
    model = si.model.MultimodalClassifier(mdata, n_latent=10, n_hidden=64)
    model.train(max_epochs=100, enable_progress_bar=False)
    latent = model.get_latent_representation().astype(np.float64)
    start = time.perf_counter()
    model.get_archetypes(seed=seed)
    step_seconds = time.perf_counter() - start
    total = ((latent - latent.mean(0)) ** 2).sum()
    spread = np.sqrt(total / len(latent))
    rows = []
    for k in range(2, 11):
        start = time.perf_counter()
        ours = si.tl.archetypal_analysis(latent, n_archetypes=k, seed=seed)
        ours_seconds = time.perf_counter() - start
        start = time.perf_counter()
        peer = archetypes.AA(n_archetypes=k, n_init=3, max_iter=500, random_state=seed)
        peer.fit(latent)
        peer_weights = peer.transform(latent)
        peer_seconds = time.perf_counter() - start
        peer_ev = 1 - ((latent - peer_weights @ peer.archetypes_) ** 2).sum() / total
        ours_ev = 1 - ((latent - ours.weights @ ours.archetypes) ** 2).sum() / total
        distance = np.linalg.norm(ours.archetypes[:, None] - peer.archetypes_[None], axis=-1)
        r, c = linear_sum_assignment(distance)
        rows.append({"k": k, "ours_explained_variance": float(ours_ev),
                     "peer_explained_variance": float(peer_ev),
                     "relative_difference": float((ours_ev - peer_ev) / peer_ev),
                     "position_difference": float(distance[r, c].mean() / spread),
                     "ours_seconds": ours_seconds, "peer_seconds": peer_seconds})  # fmt: skip
    return {"seed": seed, "n_cells": len(latent), "demo_step_seconds": step_seconds,
            "per_k": rows}  # fmt: skip


def calls(size: int) -> dict:
    """Traversal, archetypes, the trust checks and differential activity, all from disk."""
    model, dm = _load("LinearVI", size)
    quick = {**SETTINGS, "target": "factor_0"}
    steps = {
        "latent_traversal": lambda: model.latent_traversal(datamodule=dm),
        "get_archetypes": lambda: model.get_archetypes(datamodule=dm),
        "randomization_check": lambda: model.randomization_check(datamodule=dm, **quick),
        "deletion_curve": lambda: model.deletion_curve(datamodule=dm, **quick),
    }
    seconds = {}
    for name, step in steps.items():
        start = time.perf_counter()
        step()
        seconds[name] = time.perf_counter() - start
    programs, program_dm = _load("ProgramVI", size)
    start = time.perf_counter()
    table = programs.differential_program_activity("cell_type", datamodule=program_dm)
    seconds["differential_program_activity"] = time.perf_counter() - start
    return {"size": size, "n_cells": dm.n_obs, "seconds": seconds,
            "n_programs": int(table["program"].nunique()),
            "peak_rss_gb": _peak_rss_gb()}  # fmt: skip


# ---------------------------------------------------------------- driver
def _run(*args: str, threads: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--threads", str(threads),
               "--worker", *args]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=HERE)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        print(done.stderr[-4000:], file=sys.stderr)
        raise RuntimeError(f"worker failed: {args}")
    result = json.loads(lines[-1][len("RESULT ") :])
    print({k: v for k, v in result.items() if k not in ("top", "per_k")}, flush=True)
    return result


def _overlaps(sampled: dict, full: dict) -> list[dict]:
    """Top-20 overlap and rank-interval coverage of one sampled run against the full pass."""
    import pandas as pd

    ours, truth = pd.DataFrame(sampled["top"]), pd.DataFrame(full["top"])
    rows = []
    for target, group in ours.groupby("target"):
        reference = truth[truth["target"] == target].set_index("feature")["rank"]
        top = group[group["rank"] <= N_TOP].set_index("feature")
        full_top = set(reference[reference <= N_TOP].index)
        rank = reference.reindex(top.index).fillna(10**6)
        covered = ((top["rank_ci_low"] <= rank) & (rank <= top["rank_ci_high"])).mean()
        rows.append(
            {
                "target": target,
                "seed": sampled["seed"],
                "overlap": len(set(top.index) & full_top) / N_TOP,
                "coverage": float(covered),
                "n_cells": int(top["n_cells"].iloc[0]),
            }
        )
    return rows


def _mean_sd(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.2f} ± {values.std(ddof=1) if len(values) > 1 else 0:.2f}"


def _report(runs: dict) -> str:
    lines = ["# Interpretation at atlas scale", "", "## Global importance (from SOMA)", "",
             "| model | cells | seconds | cells sampled | rounds | peak RSS GB | s/cell |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in ("LinearVI", "MultimodalClassifier"):
        for size in SIZES:
            group = [r for r in runs["importance"] if r["model"] == name and r["size"] == size]
            if not group:
                continue
            lines.append(
                f"| {name} | {group[0]['n_cells_available']:,} | "
                f"{_mean_sd([r['seconds'] for r in group])} | "
                f"{_mean_sd([r['n_cells'] for r in group])} | "
                f"{_mean_sd([r['n_rounds'] for r in group])} | "
                f"{_mean_sd([r['peak_rss_gb'] for r in group])} | "
                f"{_mean_sd([1000 * r['seconds_per_cell'] for r in group])} ms |"
            )
    for r in runs["default"]:
        lines.append(
            f"| {r['model']} (default n_samples=120) | {r['n_cells_available']:,} | "
            f"{r['seconds']:.1f} (1 seed) | {r['n_cells']} | {r['n_rounds']} | "
            f"{r['peak_rss_gb']:.2f} | {1000 * r['seconds_per_cell']:.1f} ms |"
        )
    lines += ["", "## Sampled vs full pass at 122,000 cells (top-20 per target)", "",
              "Same seed: the full pass has the sampled run's background, so only the sampling "
              "of cells differs. Other background: seeds 1 and 2 against seed 0's full pass.", "",
              "| model | comparison | full pass s | mean overlap | min overlap | targets ≥ 0.9 | "
              "CI coverage of top-20 |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for key, label in (("overlap", "same seed"), ("overlap_other_background", "other background")):
        for name, rows in runs.get(key, {}).items():
            seconds = _mean_sd([f["seconds"] for f in runs["full"][name]])
            lines.append(
                f"| {name} | {label} | {seconds} | {np.mean([r['overlap'] for r in rows]):.3f} | "
                f"{min(r['overlap'] for r in rows):.2f} | "
                f"{np.mean([r['overlap'] >= 0.9 for r in rows]):.0%} | "
                f"{np.mean([r['coverage'] for r in rows]):.3f} |"
            )
    lines += ["", "## Archetypes", "", "| cells | seconds (auto k) | k | fitted on |",
              "|---|---|---|---|"]  # fmt: skip
    for size in sorted({r["size"] for r in runs["archetypes"]}):
        group = [r for r in runs["archetypes"] if r["size"] == size]
        lines.append(f"| {group[0]['n_cells']:,} | {_mean_sd([r['seconds'] for r in group])} | "
                     f"{sorted({r['n_archetypes'] for r in group})} | "
                     f"{group[0]['n_fit_cells']} |")  # fmt: skip
    demo = runs["demo"]
    lines += ["", f"Demo data ({demo[0]['n_cells']} cells, 10 latent dims), ours vs the "
              "`archetypes` package (n_init=3, max_iter=500), mean over seeds:", "",
              "| k | ours EV | package EV | relative EV difference | position difference "
              "(/ latent sd) | ours s | package s |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for i, row in enumerate(demo[0]["per_k"]):
        per_seed = [d["per_k"][i] for d in demo]
        lines.append(
            f"| {row['k']} | {np.mean([p['ours_explained_variance'] for p in per_seed]):.4f} | "
            f"{np.mean([p['peer_explained_variance'] for p in per_seed]):.4f} | "
            f"{np.mean([p['relative_difference'] for p in per_seed]):+.2%} | "
            f"{np.mean([p['position_difference'] for p in per_seed]):.3f} | "
            f"{_mean_sd([p['ours_seconds'] for p in per_seed])} | "
            f"{_mean_sd([p['peer_seconds'] for p in per_seed])} |"
        )
    lines.append(f"\nDemo archetype step (`model.get_archetypes()`): "
                 f"{_mean_sd([d['demo_step_seconds'] for d in demo])} s.")  # fmt: skip
    if runs.get("calls"):
        names = list(runs["calls"][0]["seconds"])
        lines += ["", "## The other calls, from SOMA (seconds; one process, one seed)", "",
                  "| cells | " + " | ".join(names) + " | peak RSS GB |",
                  "|---" * (len(names) + 2) + "|"]  # fmt: skip
        for r in runs["calls"]:
            cells = " | ".join(f"{r['seconds'][n]:.1f}" for n in names)
            lines.append(f"| {r['n_cells']:,} | {cells} | {r['peak_rss_gb']:.2f} |")
    return "\n".join(lines) + "\n"


PARTS = ("importance", "overlap", "archetypes", "demo", "calls")


def _overlap_part(runs: dict, seeds: list[int], threads: int) -> None:
    """Sampled vs full pass at 122,000 cells, for each seed with that seed's full pass.

    A seed draws the cells and the background; the same seed's full pass has the same
    background, so only the sampling of cells differs (what the rank intervals cover). Against
    seed 0's full pass, the other seeds also differ in their background.
    """
    runs["overlap"], runs["overlap_other_background"], runs["full"] = {}, {}, {}
    for name in ("LinearVI", "MultimodalClassifier"):
        same, other, fulls = [], [], {}
        for seed in seeds:
            sampled = _run("importance", name, "122000", str(seed), "auto", threads=threads)
            full = _run("importance", name, "122000", str(seed), "full", threads=threads)
            fulls[seed] = full
            same += _overlaps(sampled, full)
            if seed != seeds[0]:
                other += _overlaps(sampled, fulls[seeds[0]])
        runs["overlap"][name], runs["overlap_other_background"][name] = same, other
        runs["full"][name] = [{k: v for k, v in f.items() if k != "top"} for f in fulls.values()]


def _importance_part(runs: dict, seeds: list[int], threads: int) -> None:
    for key in ("train", "importance", "default"):
        runs[key] = []
    for name in ("LinearVI", "MultimodalClassifier"):
        runs["train"].append(_run("train", name, threads=threads))
        for size in SIZES:
            for seed in seeds:
                runs["importance"].append(
                    _run("importance", name, str(size), str(seed), "auto", threads=threads)
                )
        runs["default"].append(
            _run("importance", name, "1000000", "0", "default", threads=threads)
        )
    for run in runs["importance"] + runs["default"]:
        run.pop("top")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    parser.add_argument(
        "--parts", nargs="+", choices=PARTS, default=list(PARTS),
        help="parts to run; the others are kept from the last results file",
    )  # fmt: skip
    parser.add_argument("--worker", nargs="+")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.worker:
        kind, *rest = args.worker
        if kind == "train":
            result = train(rest[0], 0)
        elif kind == "importance":
            result = importance(rest[0], int(rest[1]), int(rest[2]), rest[3])
        elif kind == "archetypes":
            result = archetypes_at_scale(int(rest[0]), int(rest[1]))
        elif kind == "calls":
            result = calls(int(rest[0]))
        else:
            result = archetypes_on_demo(int(rest[0]))
        print("RESULT " + json.dumps(result), flush=True)
        return
    from _common import environment, write_results
    from _scale_data import ensure

    for size in SIZES:  # the data sets first, outside the timed processes
        ensure(size, _data_dir())
    threads = args.threads
    previous = args.results_dir / "attribution_scale.json"
    runs = json.loads(previous.read_text())["runs"] if previous.exists() else {}
    commands = json.loads(previous.read_text()).get("commands", []) if previous.exists() else []
    if "importance" in args.parts:
        _importance_part(runs, args.seeds, threads)
    if "overlap" in args.parts:
        _overlap_part(runs, args.seeds, threads)
    if "archetypes" in args.parts:
        runs["archetypes"] = [
            _run("archetypes", str(size), str(seed), threads=threads)
            for size in (122_000, 1_000_000)
            for seed in args.seeds
        ]
    if "demo" in args.parts:
        runs["demo"] = [_run("demo", str(seed), threads=threads) for seed in args.seeds]
    if "calls" in args.parts:
        _run("train", "ProgramVI", threads=threads)
        runs["calls"] = [_run("calls", str(size), threads=threads) for size in SIZES]
    command = ("SCVI_INTERPRET_DATA=../shared/data python benchmarks/attribution_scale.py "
               + " ".join(sys.argv[1:]))  # fmt: skip
    payload = {"commands": [*commands, command],
               "environment": {**environment(), "threads": threads},
               "settings": SETTINGS, "runs": runs}  # fmt: skip
    write_results("attribution_scale", payload, _report(runs), args.results_dir)


if __name__ == "__main__":
    main()
