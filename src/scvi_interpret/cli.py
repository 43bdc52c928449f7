"""Command line: ``scvi-interpret demo`` runs the main job on the data shipped in the package."""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from pathlib import Path


def _whole_number(least: int):
    """An argparse type: a whole number of at least ``least``, else a named error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{value} is below the smallest value, {least}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    from scvi_interpret import __version__

    parser = argparse.ArgumentParser(prog="scvi-interpret", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="classify the shipped mosaic PBMC data (RNA-only, ADT-only and paired cells), "
        "explain the classifier and write an HTML report",
    )
    demo.add_argument(
        "--out", type=Path, default=Path("scvi_interpret_demo"), help="output folder"
    )
    demo.add_argument(
        "--overwrite", action="store_true", help="write into --out even if it holds files"
    )
    demo.add_argument("--max-epochs", type=_whole_number(1), default=100, help="training epochs")
    demo.add_argument("--n-latent", type=_whole_number(2), default=10, help="latent dimensions")
    demo.add_argument("--data-dir", default=None, help="data folder (default: shipped copy)")
    demo.add_argument(
        "--n-archetypes",
        type=_whole_number(2),
        default=None,
        help="default: chosen by explained variance",
    )
    demo.add_argument("--seed", type=_whole_number(0), default=0)
    return parser


def _check_out(parser: argparse.ArgumentParser, out: Path, overwrite: bool) -> None:
    """Refuse an --out that is a file, cannot be made, or holds files (unless --overwrite)."""
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file; name a folder.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        parser.error(
            f"--out {out} already holds files, which the demo would overwrite; choose an empty "
            "or new folder, or pass --overwrite."
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"--out {out} cannot be created ({error.strerror}); choose another folder.")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scvi-interpret`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        _check_out(parser, args.out, args.overwrite)
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
