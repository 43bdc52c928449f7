"""LinearVI vs scvi-tools' LinearSCVI on the Baron pancreas data.

2,000 highly variable genes, 20 latent factors, the same epochs, seed and held-out cells for
both. Reports seconds per epoch and the held-out reconstruction negative log-likelihood.

Run from the repository root::

    SCVI_INTERPRET_DATA=../shared/data python benchmarks/linear_vi.py --epochs 100
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import scanpy as sc
import scvi

import scvi_interpret as si
from _common import (
    EpochTimer,
    data_dir,
    environment,
    held_out_nll,
    held_out_split,
    write_results,
)


def run(model_cls, train, test, epochs: int, seed: int, **model_kwargs) -> dict:
    scvi.settings.seed = seed
    model_cls.setup_anndata(train, layer="counts")
    model = model_cls(train, **model_kwargs)
    timer = EpochTimer()
    model.train(
        max_epochs=epochs,
        batch_size=128,
        train_size=1.0,
        callbacks=[timer],
        enable_progress_bar=False,
    )
    model_cls.setup_anndata(test, layer="counts")
    return {
        "seconds_per_epoch": timer.seconds_per_epoch(),
        "total_train_seconds": float(np.sum(timer.seconds)),
        "held_out_nll": held_out_nll(model, test, seed),
        "final_train_elbo": float(model.history["elbo_train"].iloc[-1, 0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-latent", type=int, default=20)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    adata = si.datasets.pancreas(data_dir())
    sc.pp.highly_variable_genes(
        adata, n_top_genes=2000, flavor="seurat_v3", layer="counts", subset=True
    )
    train_idx, test_idx = held_out_split(adata.n_obs, 0.1, args.seed)
    common = {"n_latent": args.n_latent}
    results = {}
    contenders = [
        ("LinearSCVI", scvi.model.LinearSCVI, {}),
        # same library-size treatment as LinearVI (observed totals), for an even comparison
        ("LinearSCVI (observed library)", scvi.model.LinearSCVI, {"use_observed_lib_size": True}),
        ("LinearVI", si.model.LinearVI, {}),
    ]
    for name, cls, extra in contenders:
        train, test = adata[train_idx].copy(), adata[test_idx].copy()
        results[name] = run(cls, train, test, args.epochs, args.seed, **common, **extra)
        print(name, results[name])

    ours, peer = results["LinearVI"], results["LinearSCVI"]
    ratios = {
        "time_ratio": ours["seconds_per_epoch"] / peer["seconds_per_epoch"],
        "nll_difference": ours["held_out_nll"] - peer["held_out_nll"],
        "nll_difference_vs_observed_library": ours["held_out_nll"]
        - results["LinearSCVI (observed library)"]["held_out_nll"],
    }
    payload = {
        "benchmark": "linear_vi",
        "command": f"python benchmarks/linear_vi.py --epochs {args.epochs} --seed {args.seed}",
        "data": {
            "set": "pancreas_baron_human1",
            "n_train_cells": len(train_idx),
            "n_test_cells": len(test_idx),
            "n_genes": adata.n_vars,
        },
        "settings": {"epochs": args.epochs, "seed": args.seed, "batch_size": 128, **common},
        "environment": environment(),
        "results": results,
        "ratios": ratios,
    }
    table = "\n".join(
        [
            f"LinearVI vs LinearSCVI — pancreas, {adata.n_vars} HVGs, {args.n_latent} factors, "
            f"{args.epochs} epochs, {len(test_idx)} held-out cells",
            "",
            "| model | s / epoch | held-out NLL per cell | final train ELBO |",
            "|---|---|---|---|",
            *(
                f"| {name} | {r['seconds_per_epoch']:.3f} | {r['held_out_nll']:.1f} | "
                f"{r['final_train_elbo']:.1f} |"
                for name, r in results.items()
            ),
            "",
            f"time ratio (LinearVI / LinearSCVI): {ratios['time_ratio']:.2f}; "
            f"NLL difference (LinearVI − LinearSCVI): {ratios['nll_difference']:+.1f} "
            f"(vs LinearSCVI with observed library: "
            f"{ratios['nll_difference_vs_observed_library']:+.1f})",
        ]
    )
    write_results("linear_vi", payload, table)


if __name__ == "__main__":
    main()
