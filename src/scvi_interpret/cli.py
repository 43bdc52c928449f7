"""Command line: ``scvi-interpret demo`` runs the main job on the data shipped in the package."""

from __future__ import annotations

import argparse
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path


def _demo(out: Path, max_epochs: int, n_latent: int, data_dir: str | None, seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from tqdm.auto import tqdm

    steps = tqdm(total=5, desc="scvi-interpret demo", unit="step")
    import pandas as pd
    import scvi

    import scvi_interpret as si

    scvi.settings.verbosity = logging.ERROR
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    scvi.settings.seed = seed
    steps.set_postfix_str("loading the shipped mosaic PBMC data")
    mdata = si.datasets.pbmc_mosaic(data_dir)
    rna = mdata["rna"].copy()
    rna.obs = mdata.obs.loc[rna.obs_names, ["cell_type", "batch"]].copy()
    steps.update()

    steps.set_postfix_str(f"training LinearVI on {rna.n_obs} cells × {rna.n_vars} genes")
    si.model.LinearVI.setup_anndata(rna, batch_key="batch", labels_key="cell_type")
    model = si.model.LinearVI(rna, n_latent=n_latent)
    model.train(max_epochs=max_epochs, train_size=1.0, enable_progress_bar=False)
    steps.update()

    steps.set_postfix_str("writing tables")
    out.mkdir(parents=True, exist_ok=True)
    loadings = model.get_loadings()
    latent = model.get_latent_representation()
    means = si.tl.group_means(latent, rna.obs["cell_type"], names=model.factor_names)
    top = si.tl.top_features(loadings, n_top=10)
    loadings.to_csv(out / "loadings.csv", index_label="gene")
    top.to_csv(out / "top_genes.csv", index=False)
    means.to_csv(out / "factor_by_cell_type.csv", index_label="cell_type")
    latent_frame = rna.obs[["cell_type", "batch"]].join(
        pd.DataFrame(latent, index=rna.obs_names, columns=model.factor_names)
    )
    latent_frame.to_csv(out / "latent.csv", index_label="cell")
    model.history["elbo_train"].to_csv(out / "training_elbo.csv")
    steps.update()

    steps.set_postfix_str("drawing figures")
    si.pl.loadings_heatmap(loadings, n_top=3, save=out / "loadings.png", show=False)
    si.pl.factor_heatmap(means, save=out / "factor_by_cell_type.png", show=False)
    steps.update()

    lines = ["factor  | highest in        | top genes"]
    for factor in model.factor_names:
        genes = top.query("factor == @factor and direction == 'positive'")["feature"].head(5)
        lines.append(f"{factor:8s}| {means[factor].idxmax():18s}| {', '.join(genes)}")
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    steps.update()
    steps.close()
    print("\n".join(lines))
    print(f"\nTables (CSV) and figures (PNG) written to {out.resolve()}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scvi-interpret`` command."""
    parser = argparse.ArgumentParser(prog="scvi-interpret", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="train LinearVI on the shipped mosaic PBMC data and write tables and figures",
    )
    demo.add_argument(
        "--out", type=Path, default=Path("scvi_interpret_demo"), help="output folder"
    )
    demo.add_argument("--max-epochs", type=int, default=200, help="training epochs")
    demo.add_argument("--n-latent", type=int, default=10, help="latent factors")
    demo.add_argument("--data-dir", default=None, help="data folder (default: shipped copy)")
    demo.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "demo":
        warnings.filterwarnings("ignore")  # library deprecation notes would break the progress bar
        _demo(args.out, args.max_epochs, args.n_latent, args.data_dir, args.seed)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
