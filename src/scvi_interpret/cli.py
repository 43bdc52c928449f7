"""Command line: ``scvi-interpret demo`` runs the main job on the data shipped in the package."""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scvi-interpret`` command."""
    parser = argparse.ArgumentParser(prog="scvi-interpret", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="classify the shipped mosaic PBMC data (RNA-only, ADT-only and paired cells), "
        "explain the classifier and write an HTML report",
    )
    demo.add_argument(
        "--out", type=Path, default=Path("scvi_interpret_demo"), help="output folder"
    )
    demo.add_argument("--max-epochs", type=int, default=100, help="training epochs")
    demo.add_argument("--n-latent", type=int, default=10, help="latent dimensions")
    demo.add_argument("--data-dir", default=None, help="data folder (default: shipped copy)")
    demo.add_argument(
        "--n-archetypes", type=int, default=None, help="default: chosen by explained variance"
    )
    demo.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "demo":
        warnings.filterwarnings("ignore")  # library deprecation notes would break the progress bar
        from scvi_interpret._demo import run_demo

        run_demo(
            args.out,
            args.max_epochs,
            args.n_latent,
            args.data_dir,
            args.seed,
            n_archetypes=args.n_archetypes,
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
