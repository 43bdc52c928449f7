"""Shared helpers for the benchmarks: data folder, epoch timer, result writers."""

from __future__ import annotations

import json
import os
import platform
import shlex
import time
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

RESULTS = Path(__file__).parent / "results"


def data_dir() -> Path:
    """The real-data folder: ``$SCVI_INTERPRET_DATA`` or ``../shared/data`` beside the repo."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    return Path(os.environ.get("SCVI_INTERPRET_DATA", default))


def pancreas_hvgs(quick: bool = False):
    """Baron pancreas counts on 2,000 seurat_v3 HVGs (``quick``: 400 cells, 300 HVGs)."""
    import scanpy as sc

    import scvi_interpret as si

    adata = si.datasets.pancreas(data_dir())
    if quick:
        adata = adata[np.random.default_rng(0).permutation(adata.n_obs)[:400]].copy()
    sc.pp.highly_variable_genes(
        adata, n_top_genes=300 if quick else 2000, flavor="seurat_v3", layer="counts",
        subset=True,
    )  # fmt: skip
    return adata


class EpochTimer(Callback):
    """Wall-clock seconds of each training epoch."""

    def __init__(self):
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        self.seconds.append(time.perf_counter() - self._start)

    def seconds_per_epoch(self) -> float:
        """Median over epochs after the first (the first pays for warm-up)."""
        return float(np.median(self.seconds[1:] if len(self.seconds) > 1 else self.seconds))


def held_out_split(n_cells: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of training and held-out cells, a seeded random split."""
    order = np.random.default_rng(seed).permutation(n_cells)
    n_test = round(fraction * n_cells)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def recorded_command(script: str, args, *options: str) -> str:
    """The command that reruns a benchmark as it ran, for its results file.

    ``options`` are the destinations in ``args`` to record, in order: a true flag is written
    as the bare option, a false, ``None`` or empty one is left out, a list as its items; the
    results folder is added by :func:`results_dir_option` when it is not the default.

    >>> from types import SimpleNamespace
    >>> args = SimpleNamespace(seeds=[0, 1], quick=True, only=None, results_dir=RESULTS)
    >>> recorded_command("demo.py", args, "seeds", "quick", "only")
    'SCVI_INTERPRET_DATA=../shared/data python benchmarks/demo.py --seeds 0 1 --quick'
    """
    words = ["SCVI_INTERPRET_DATA=../shared/data", "python", f"benchmarks/{script}"]
    for name in options:
        value = getattr(args, name)
        if value is None or value is False or (isinstance(value, list | tuple) and not value):
            continue
        words.append("--" + name.replace("_", "-"))
        if value is True:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        words += [shlex.quote(str(item)) for item in values]
    return " ".join(words) + results_dir_option(args.results_dir)


def results_dir_option(folder: Path) -> str:
    """``" --results-dir <folder>"`` for a recorded command, or ``""`` for ``results/``.

    The folder relative to the repository root where it lies inside it, so that the recorded
    command, run again from the root, writes where the committed files are.
    """
    folder = Path(folder).resolve()
    if folder == RESULTS.resolve():
        return ""
    root = RESULTS.resolve().parents[1]
    shown = folder.relative_to(root) if folder.is_relative_to(root) else folder
    return f" --results-dir {shown}"


def held_out_nll(model, adata, seed: int, n_repeats: int = 5) -> float:
    """Mean per-cell reconstruction NLL of an scvi-tools model, over posterior samples."""
    import scvi

    values = []
    for repeat in range(n_repeats):
        scvi.settings.seed = seed + repeat
        values.append(float(model.get_reconstruction_error(adata)["reconstruction_loss"]))
    return float(np.mean(values))


def environment() -> dict:
    import scvi

    import scvi_interpret

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "scvi-tools": scvi.__version__,
        "scvi-interpret": scvi_interpret.__version__,
        "cpu_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "cpu": f"{_cpu_model()}, {os.cpu_count()} cores",
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_line(environment: dict) -> str:
    """One line of markdown: machine, threads and package versions of a results file."""
    machine = environment.get("cpu", f"{environment.get('machine', '?')} CPU")
    names = ("python", "torch", "scvi-tools", "scvi-interpret")
    versions = ", ".join(f"{k} {environment[k]}" for k in names if k in environment)
    return (f"Machine: {machine}, {environment.get('device', 'cpu')}, "
            f"{environment.get('cpu_threads', '?')} threads; {versions}.")  # fmt: skip


def write_results(name: str, payload: dict, table: str, folder: Path = RESULTS) -> None:
    """Write ``{folder}/{name}.json`` and ``{folder}/{name}.md`` (default ``results/``)."""
    folder.mkdir(parents=True, exist_ok=True)
    if "environment" in payload and "Machine:" not in table:
        table += "\n\n" + environment_line(payload["environment"])
    (folder / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (folder / f"{name}.md").write_text(table + "\n")
    print(table)
