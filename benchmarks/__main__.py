"""Run the benchmarks, one after the other, each in its own process.

    SCVI_INTERPRET_DATA=../shared/data python -m benchmarks            # all, 6–7 h on 2 cores
    SCVI_INTERPRET_DATA=../shared/data python -m benchmarks linear_vi  # one
    python -m benchmarks --quick --results-dir /tmp/bench               # smoke run (minutes)

Two kinds, each writing ``<results-dir>/<name>.json`` and ``.md`` (default
``benchmarks/results/``) with the command, machine, versions and seeds:

- the peer comparisons (``COMPARISONS``): one configuration per row, mean ± sd over seeds,
  the like-for-like comparisons and their 2-sd verdicts;
- the cost-growth benchmarks (``COST_GROWTH``): time and memory at several data sizes
  (10⁵–10⁶ cells, resampled into the cache folder, never the repository) or batch sizes,
  ours against scvi-tools on the same work, 3 seeds per size.

``--quick`` runs the comparisons on tiny subsets of the data for 1–2 epochs and two seeds: it
checks that they run and write complete results, not what they measure. The cost-growth
benchmarks have no quick mode (their point is the growth with size); they are left out of a
``--quick`` run. A peer whose environment is missing (scArches' EXPIMAP, see
``program_vi.py``) is left out and the results say so.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
# the seeded peer comparisons, in the order they run (cheapest first)
COMPARISONS = (
    "linear_vi",
    "factor_interpretability",
    "program_vi",
    "attribution",
    "multimodal_classifier",
    "multiome",
)
# time and memory against data size, ours vs scvi-tools (run after the comparisons)
COST_GROWTH = ("nb_log_prob", "scale", "attribution_scale")
BENCHMARKS = COMPARISONS + COST_GROWTH


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"some of {BENCHMARKS} (default: all)")
    parser.add_argument("--quick", action="store_true", help="smoke run (tiny data, 1–2 epochs)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; choose from {BENCHMARKS}")
    no_quick = sorted(set(args.names) & set(COST_GROWTH))
    if args.quick and no_quick:
        parser.error(f"{no_quick} have no --quick mode: they measure growth with data size; "
                     f"--quick runs {COMPARISONS}")  # fmt: skip
    chosen = args.names or (COMPARISONS if args.quick else BENCHMARKS)
    for name in chosen:
        command = [sys.executable, str(HERE / f"{name}.py"), "--threads", str(args.threads),
                   "--results-dir", str(args.results_dir)]  # fmt: skip
        command += ["--quick", "--seeds", "0", "1"] if args.quick else []
        print("+", " ".join(command), flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True)
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
