"""Draw ``docs/_static/loadings_units.png``: a LinearVI factor in log, expression, Pearson units.

Pancreas (Baron), 2,000 HVGs, 10 factors, 200 epochs, seed 0 — the tutorial's model. The
factor shown is the one highest in ``--cell-type`` cells (z-scored factor means), in the
default joint varimax rotation. Run from the repository root::

    SCVI_INTERPRET_DATA=../shared/data python docs/loadings_units_figure.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import scanpy as sc
import scvi
import torch

import scvi_interpret as si

OUT = Path(__file__).parent / "_static" / "loadings_units.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell-type", default="ductal")
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(2)
    adata = si.datasets.pancreas()
    sc.pp.highly_variable_genes(
        adata, n_top_genes=2000, flavor="seurat_v3", layer="counts", subset=True
    )
    scvi.settings.seed = 0
    si.model.LinearVI.setup_anndata(adata, layer="counts")
    model = si.model.LinearVI(adata, n_latent=10)
    model.train(max_epochs=args.epochs, enable_progress_bar=False)
    means = si.tl.group_means(
        model.get_latent_representation(), adata.obs["cell_type"], names=model.factor_names
    )
    factor = means.loc[args.cell_type].idxmax()
    log_units = model.get_loadings()[factor]
    readings = {
        "expression": model.get_loadings(units="expression")[factor],
        "Pearson": model.get_loadings(units="pearson")[factor],
    }
    mean_count = np.asarray(adata.layers["counts"].mean(0)).ravel()

    fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
    colours = {"log": "tab:red", "expression": "tab:blue", "Pearson": "tab:green"}
    for ax, (units, values) in zip(axes, readings.items(), strict=True):
        points = ax.scatter(
            log_units, values, c=np.log10(mean_count), s=8, cmap="viridis", linewidths=0
        )
        for label, ranked in (("log", log_units), (units, values)):
            for gene in ranked.nlargest(6).index:
                ax.annotate(
                    gene, (log_units[gene], values[gene]), fontsize=8, color=colours[label],
                    xytext=(3, 3), textcoords="offset points",
                )  # fmt: skip
        ax.axhline(0, color="0.7", lw=0.5)
        ax.axvline(0, color="0.7", lw=0.5)
        ax.set_xlabel(f"{factor}: W, log units (centred)")
        per = "counts per 10,000" if units == "expression" else "Poisson sd at 10,000 counts"
        ax.set_ylabel(f"{factor}: {units} units ({per} per unit factor)")
        ax.set_title(f"top 6 genes in log units (red) and {units} units "
                     f"({colours[units].removeprefix('tab:')})", fontsize=9)  # fmt: skip
    fig.colorbar(points, ax=axes, label="log10 mean count per cell")
    fig.suptitle(f"{factor} (joint varimax), highest in {args.cell_type} cells", fontsize=10)
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT, dpi=110)
    names = list(adata.var_names)
    for label, values in {"log": log_units, **readings}.items():
        genes = values.nlargest(20).index
        counts = mean_count[[names.index(g) for g in genes]]
        print(f"top 20 in {label} units: median mean count {np.median(counts):.3g}; "
              f"{', '.join(genes[:8])}")  # fmt: skip
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
