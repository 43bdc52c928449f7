"""Multi-seed runs shared by the benchmarks: one process per (method, seed), mean ± sd, leads.

Every benchmark describes its methods as :class:`Method` (a name, the configuration it runs
in, its role, a function ``(seed, args) -> dict`` of metrics) and calls :func:`run_methods`.
The results file then has one layout for all benchmarks (checked by the suite)::

    {"benchmark", "command", "seeds", "quick", "environment", "data",
     "rows": {name: {"configuration", "role", "per_seed": {seed: metrics},
                     "summary": {metric: {"mean", "sd", "n"}}}},
     "comparisons": [{"ours", "peer", "metric", "difference", "sd", "ratio", "verdict"}]}

A lead is claimed (``verdict`` "ours ahead" / "peer ahead") only when the difference of the
means exceeds 2 sd of the difference (the seeds' sds added in quadrature); else "within noise".
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from _common import RESULTS


@dataclass(frozen=True)
class Method:
    """One row of a benchmark: who runs, in which configuration, and the function that runs it.

    ``role`` is "ours", "peer" (the like-for-like configuration, the headline) or
    "peer default" / "ours variant" (extra rows).
    """

    name: str
    configuration: str
    role: str
    run: Callable[[int, argparse.Namespace], dict]


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--seeds``, ``--threads``, ``--quick``, ``--results-dir``, ``--only``."""
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: tiny data, 1–2 epochs (for the suite)"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--only", nargs="*", default=None, help="row names to run")


def _child(method: Method, seed: int, args: argparse.Namespace) -> dict:
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    import logging

    for name in ("scvi", "lightning", "lightning.pytorch", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = method.run(seed, args)
    result["wall_seconds"] = time.perf_counter() - start
    # a method that runs its work in a subprocess of its own reports that one's peak RSS
    result.setdefault("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


def run_methods(methods: list[Method], args: argparse.Namespace) -> dict[str, dict]:
    """Run every method for every seed, each in a fresh spawned process (own peak RSS).

    With ``--quick``, in this process instead (peak RSS is then the process's).

    Seeds are the outer loop, so a slow spell of the shared machine spreads over methods
    instead of landing on one.
    """
    chosen = [m for m in methods if args.only is None or m.name in args.only]
    rows = {m.name: {"configuration": m.configuration, "role": m.role, "per_seed": {}}
            for m in chosen}  # fmt: skip
    context = get_context("spawn")
    for seed in args.seeds:
        for method in chosen:
            if args.quick:  # a smoke run: spawning costs more than the run itself
                result = _child(method, seed, args)
            else:
                with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                    result = pool.submit(_child, method, seed, args).result()
            rows[method.name]["per_seed"][str(seed)] = result
            shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()
                     if not isinstance(v, dict | list)}  # fmt: skip
            print(seed, method.name, shown, flush=True)
    for row in rows.values():
        row["summary"] = summarise(row["per_seed"])
    return rows


def summarise(per_seed: dict[str, dict]) -> dict[str, dict]:
    """Mean, sd (ddof 1; 0 for one seed) and count of every numeric metric over seeds."""
    metrics = {k for r in per_seed.values() for k, v in r.items()
               if isinstance(v, int | float) and not isinstance(v, bool)}  # fmt: skip
    summary = {}
    for metric in sorted(metrics):
        values = np.array([r[metric] for r in per_seed.values() if metric in r], dtype=float)
        summary[metric] = {
            "mean": float(values.mean()),
            "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "n": len(values),
        }
    return summary


def compare(rows: dict, ours: str, peer: str, metric: str, higher_is_better: bool) -> dict:
    """Difference ours − peer of a metric's means, its sd, the ratio, and the verdict."""
    a, b = rows[ours]["summary"][metric], rows[peer]["summary"][metric]
    difference = a["mean"] - b["mean"]
    sd = float(np.hypot(a["sd"], b["sd"]))
    better = difference > 0 if higher_is_better else difference < 0
    verdict = "within noise"
    if abs(difference) > 2 * sd:
        verdict = "ours ahead" if better else "peer ahead"
    return {
        "ours": ours, "peer": peer, "metric": metric, "higher_is_better": higher_is_better,
        "ours_mean": a["mean"], "peer_mean": b["mean"], "difference": difference, "sd": sd,
        "ratio": a["mean"] / b["mean"] if b["mean"] else None, "verdict": verdict,
    }  # fmt: skip


def rows_table(rows: dict, metrics: dict[str, str], digits: dict[str, int] | None = None) -> list:
    """Markdown table: one line per row, ``mean ± sd`` per metric (label → metric key)."""
    digits = digits or {}
    lines = ["| method | configuration | " + " | ".join(metrics) + " |",
             "|---|---|" + "---|" * len(metrics)]  # fmt: skip
    for name, row in rows.items():
        cells = []
        for metric in metrics.values():
            value = row["summary"].get(metric)
            d = digits.get(metric, 3)
            cells.append("–" if value is None else f"{value['mean']:.{d}f} ± {value['sd']:.{d}f}")
        lines.append(f"| {name} | {row['configuration']} | " + " | ".join(cells) + " |")
    return lines


def comparisons_table(comparisons: list[dict]) -> list[str]:
    """Markdown table of the like-for-like comparisons and their verdicts."""
    lines = ["| ours | peer | metric | ours − peer | sd of difference | ours / peer | verdict |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for c in comparisons:
        ratio = "–" if c["ratio"] is None else f"{c['ratio']:.3f}"
        lines.append(
            f"| {c['ours']} | {c['peer']} | {c['metric']} | {c['difference']:+.4g} | "
            f"{c['sd']:.3g} | {ratio} | {c['verdict']} |"
        )
    return lines
