"""Atlas-scale data paths: training and inference cost at 10^5–10^6 cells, ours vs scvi-tools.

For each size (resampled Liu RNA, see ``_scale_data.py``), data path (in memory, on-disk
backed h5ad, TileDB-SOMA through ``si.data.SomaDataModule``) and model (LinearVI; peers
scvi-tools SCVI and LinearSCVI, all NB likelihood, 10 latent dimensions, 128 hidden units,
one layer, batch size 128, batch as covariate), one fresh process per configuration and seed
measures:

- seconds per epoch, extrapolated from the mean time of ``--steps`` training steps after 20
  warm-up steps (times ``ceil(n_cells / 128)`` steps per epoch);
- latent throughput: cells per second of ``get_latent_representation`` on the first 20,000
  cells;
- peak resident memory of the process (``ru_maxrss``), and the data-module construction time
  (SOMA: reading ``obs``, one pass over all counts for the checks and start values).

LinearSCVI cannot be built from a registry (its constructor takes only an AnnData), so it
has no SOMA row. Run::

    SCVI_INTERPRET_DATA=../shared/data python benchmarks/scale.py            # all, ~1 h
    python benchmarks/scale.py --sizes 100000 --seeds 0                      # quick look

Results: ``benchmarks/results/scale.json`` and ``scale.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
BATCH_SIZE = 128
WARMUP_STEPS = 20
LATENT_CELLS = 20_000
MODELS = ("LinearVI", "SCVI", "LinearSCVI")
PATHS = ("memory", "backed", "soma")


# ---------------------------------------------------------------- worker
def _model_class(name: str):
    import scvi

    import scvi_interpret as si

    return {"LinearVI": si.model.LinearVI, "SCVI": scvi.model.SCVI,
            "LinearSCVI": scvi.model.LinearSCVI}[name]  # fmt: skip


def _build(name: str, adata=None, registry=None):
    cls = _model_class(name)
    shared = {"n_latent": 10, "n_hidden": 128, "n_layers": 1}
    if name == "LinearVI":
        return cls(adata, registry=registry, **shared)
    if name == "SCVI":
        return cls(adata, registry=registry, gene_likelihood="nb", **shared)
    return cls(adata, gene_likelihood="nb", n_hidden=128, n_latent=10)


class StepTimer:
    """Lightning callback: wall time from the end of the warm-up to the last step."""

    def __new__(cls):
        from lightning.pytorch.callbacks import Callback

        class _Timer(Callback):
            def __init__(self):
                self.start = self.end = None
                self.steps = 0

            def on_train_batch_end(self, trainer, *args):
                if trainer.global_step == WARMUP_STEPS:
                    self.start = time.perf_counter()
                elif trainer.global_step > WARMUP_STEPS:
                    self.end, self.steps = time.perf_counter(), trainer.global_step - WARMUP_STEPS

        return _Timer()


def worker(size: int, path: str, model_name: str, seed: int, steps: int, threads: int) -> dict:
    import resource

    import anndata as ad
    import scvi
    import torch

    import scvi_interpret as si
    from _scale_data import ensure

    torch.set_num_threads(threads)
    scvi.settings.seed = seed
    files = ensure(
        size, Path(os.environ.get("SCVI_INTERPRET_DATA", HERE.parents[1] / "shared/data"))
    )
    start = time.perf_counter()
    datamodule, adata = None, None
    if path == "soma":
        datamodule = si.data.SomaDataModule(
            str(files["soma"]), _model_class(model_name), measurement="RNA", batch_key="batch",
            batch_size=BATCH_SIZE, train_size=1.0, seed=seed,
        )  # fmt: skip
        model = _build(model_name, registry=datamodule.registry)
    else:
        adata = ad.read_h5ad(files["h5ad"], backed="r" if path == "backed" else None)
        _model_class(model_name).setup_anndata(adata, batch_key="batch")
        model = _build(model_name, adata=adata)
    setup_seconds = time.perf_counter() - start
    n_cells = datamodule.n_obs if datamodule is not None else adata.n_obs
    timer = StepTimer()
    train = {"max_epochs": 1, "max_steps": WARMUP_STEPS + steps, "callbacks": [timer],
             "enable_progress_bar": False, "enable_model_summary": False,
             "logger": False, "enable_checkpointing": False}  # fmt: skip
    if datamodule is not None:
        model.train(datamodule=datamodule, **train)
    else:
        model.train(batch_size=BATCH_SIZE, train_size=1.0, **train)
    seconds_per_step = (timer.end - timer.start) / timer.steps
    cells = np.arange(min(LATENT_CELLS, n_cells))
    start = time.perf_counter()
    if datamodule is not None:
        loader = datamodule.inference_dataloader(indices=cells, batch_size=1024)
        latent = model.get_latent_representation(dataloader=loader)
    else:
        latent = model.get_latent_representation(adata, indices=cells, batch_size=1024)
    latent_seconds = time.perf_counter() - start
    assert latent.shape == (len(cells), 10) and np.isfinite(latent).all()
    return {
        "size": size, "n_cells": int(n_cells), "path": path, "model": model_name, "seed": seed,
        "seconds_per_step": seconds_per_step,
        "seconds_per_epoch": seconds_per_step * math.ceil(n_cells / BATCH_SIZE),
        "latent_cells_per_second": len(cells) / latent_seconds,
        "setup_seconds": setup_seconds,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "steps_timed": timer.steps,
    }  # fmt: skip


# ---------------------------------------------------------------- driver
def _configs(sizes, seeds):
    for size in sizes:
        for path in PATHS:
            for model in MODELS:
                if path == "soma" and model == "LinearSCVI":
                    continue  # LinearSCVI(adata) only: no registry constructor
                for seed in seeds:
                    yield size, path, model, seed


def _summary(runs: list[dict]) -> tuple[dict, str]:
    import pandas as pd

    from _common import environment

    frame = pd.DataFrame(runs)
    keys = ["size", "path", "model"]
    metrics = ["seconds_per_epoch", "latent_cells_per_second", "peak_rss_gb", "setup_seconds"]
    stats = frame.groupby(keys)[metrics].agg(["mean", "std"]).reset_index()
    stats.columns = ["_".join(c).strip("_") for c in stats.columns]
    rows, lines = [], []
    lines.append("| cells | path | model | s/epoch (extrapolated) | latent cells/s | peak RSS GB "
                 "| setup s | s/epoch vs SCVI, same path |")  # fmt: skip
    lines.append("|---|---|---|---|---|---|---|---|")
    for _, r in stats.iterrows():
        scvi_row = stats[(stats["size"] == r["size"]) & (stats["path"] == r["path"])
                         & (stats["model"] == "SCVI")]  # fmt: skip
        ratio = (r["seconds_per_epoch_mean"] / scvi_row["seconds_per_epoch_mean"].iloc[0]
                 if len(scvi_row) else float("nan"))  # fmt: skip
        rows.append({**{k: r[k] for k in stats.columns}, "epoch_ratio_vs_scvi": ratio})
        lines.append(
            f"| {int(r['size']):,} | {r['path']} | {r['model']} | "
            f"{r['seconds_per_epoch_mean']:.1f} ± {r['seconds_per_epoch_std']:.1f} | "
            f"{r['latent_cells_per_second_mean']:,.0f} ± "
            f"{r['latent_cells_per_second_std']:,.0f} | "
            f"{r['peak_rss_gb_mean']:.2f} ± {r['peak_rss_gb_std']:.2f} | "
            f"{r['setup_seconds_mean']:.1f} | {ratio:.2f} |"
        )
    return {"environment": environment(), "summary": rows, "runs": runs}, "\n".join(lines)


def _store_versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("tiledbsoma", "tiledbsoma-ml", "anndata")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    parser.add_argument("--worker", nargs=4, metavar=("SIZE", "PATH", "MODEL", "SEED"))
    args = parser.parse_args()
    if args.worker:
        size, path, model, seed = args.worker
        result = worker(int(size), path, model, int(seed), args.steps, args.threads)
        print("RESULT " + json.dumps(result), flush=True)
        return
    from _common import recorded_command, write_results
    from _scale_data import ensure

    for size in args.sizes:  # make the data sets first, outside the timed processes
        ensure(size, Path(os.environ.get("SCVI_INTERPRET_DATA", HERE.parents[1] / "shared/data")))
    runs = []
    for size, path, model, seed in _configs(args.sizes, args.seeds):
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--steps",
            str(args.steps),
            "--threads",
            str(args.threads),
            "--worker",
            str(size),
            path,
            model,
            str(seed),
        ]
        done = subprocess.run(command, capture_output=True, text=True, cwd=HERE)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            print(done.stderr[-3000:], file=sys.stderr)
            raise RuntimeError(f"worker failed: {size} {path} {model} {seed}")
        runs.append(json.loads(lines[-1][len("RESULT ") :]))
        print(runs[-1], flush=True)
    payload, table = _summary(runs)
    payload["environment"].update(_store_versions())
    payload["command"] = recorded_command("scale.py", args, "sizes", "seeds", "steps", "threads")
    payload["seeds"] = args.seeds
    payload["settings"] = {"batch_size": BATCH_SIZE, "warmup_steps": WARMUP_STEPS,
                           "timed_steps": args.steps, "latent_cells": LATENT_CELLS}  # fmt: skip
    write_results("scale", payload, table, args.results_dir)


if __name__ == "__main__":
    main()
