"""LinearVI vs scvi-tools' LinearSCVI on the Baron pancreas data, like for like, seeds 0–2.

2,000 highly variable genes, 20 factors, one hidden layer of 128 units in the encoder, batch
size 128, the same held-out 10 % of cells per seed. Both train ``--epochs`` epochs (400) with
the KL term warmed up over the first ``--kl-warmup`` epochs (100), so that both end at full KL
weight (the v0.1.0 table stopped at 100 epochs of scvi-tools' 400-epoch warm-up, KL weight
≈ 0.25). Headline: LinearSCVI with the observed library size, as LinearVI uses; LinearSCVI's
default (a learned library) is an extra row.

Per (model, seed), each in its own process: seconds per epoch (median epoch) and the whole
``train`` call, held-out reconstruction NLL per cell (5 posterior samples), final training
ELBO, and what the factors say about cell types on the same trained model
(``_factor_metrics.py``: marker recall at k = 10/20/50 with markers from the data, best-factor
specificity AUROC).

Run from the repository root::

    SCVI_INTERPRET_DATA=../shared/data python benchmarks/linear_vi.py
"""

from __future__ import annotations

import argparse
import time
from functools import partial

from _common import (
    EpochTimer,
    environment,
    held_out_nll,
    held_out_split,
    pancreas_hvgs,
    recorded_command,
    write_results,
)
from _factor_metrics import data_markers, factor_metrics
from _seeds import (
    Method,
    add_common_arguments,
    compare,
    comparisons_table,
    rows_table,
    run_methods,
)

N_LATENT, N_HIDDEN, BATCH_SIZE = 20, 128, 128


def run(model_name: str, seed: int, args: argparse.Namespace, **model_kwargs) -> dict:
    import scvi

    import scvi_interpret as si

    adata = pancreas_hvgs(args.quick)
    train_idx, test_idx = held_out_split(adata.n_obs, 0.1, seed)
    train, test = adata[train_idx].copy(), adata[test_idx].copy()
    cls = {"LinearVI": si.model.LinearVI, "LinearSCVI": scvi.model.LinearSCVI}[model_name]
    scvi.settings.seed = seed
    cls.setup_anndata(train, layer="counts")
    model = cls(train, n_latent=N_LATENT, n_hidden=N_HIDDEN, **model_kwargs)
    timer = EpochTimer()
    start = time.perf_counter()
    model.train(
        max_epochs=args.epochs, batch_size=BATCH_SIZE, train_size=1.0, callbacks=[timer],
        plan_kwargs={"n_epochs_kl_warmup": args.kl_warmup}, enable_progress_bar=False,
    )  # fmt: skip
    train_seconds = time.perf_counter() - start
    cls.setup_anndata(test, layer="counts")
    markers = data_markers(adata, "cell_type")
    factors = factor_metrics(
        model.get_latent_representation(), model.get_loadings(), train.obs["cell_type"], markers
    )
    return {
        "seconds_per_epoch": timer.seconds_per_epoch(),
        "train_call_seconds": train_seconds,
        "held_out_nll": held_out_nll(model, test, seed),
        "final_train_elbo": float(model.history["elbo_train"].iloc[-1, 0]),
        **factors,
    }


def _configuration(extra: str, args) -> str:
    return (f"{args.epochs} epochs, KL warm-up {args.kl_warmup}, {N_LATENT} factors, encoder "
            f"1×{N_HIDDEN}, batch {BATCH_SIZE}{extra}")  # fmt: skip


METRICS = {
    "s / epoch": "seconds_per_epoch",
    "train call (s)": "train_call_seconds",
    "held-out NLL": "held_out_nll",
    "final train ELBO": "final_train_elbo",
    "marker recall @10": "marker_recall_at_10",
    "@20": "marker_recall_at_20",
    "@50": "marker_recall_at_50",
    "specificity AUROC": "specificity_auroc",
    "peak RSS (MB)": "peak_rss_mb",
}
DIGITS = {"held_out_nll": 1, "final_train_elbo": 1, "train_call_seconds": 1, "peak_rss_mb": 0}
# metric → higher is better, for the like-for-like comparisons
COMPARED = {"seconds_per_epoch": False, "held_out_nll": False, "marker_recall_at_20": True,
            "specificity_auroc": True}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--kl-warmup", type=int, default=100)
    add_common_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.kl_warmup = 2, 1
    methods = [
        Method("LinearVI", _configuration(", observed library", args), "ours",
               partial(run, "LinearVI")),
        Method("LinearSCVI (observed library)", _configuration(", observed library", args),
               "peer", partial(run, "LinearSCVI", use_observed_lib_size=True)),
        Method("LinearSCVI (default: learned library)",
               _configuration(", learned library (scvi-tools' default)", args), "peer default",
               partial(run, "LinearSCVI")),
    ]  # fmt: skip
    rows = run_methods(methods, args)
    comparisons = [
        compare(rows, "LinearVI", peer, metric, higher)
        for peer in rows if rows[peer]["role"].startswith("peer") and "LinearVI" in rows
        for metric, higher in COMPARED.items()
    ]  # fmt: skip
    adata = pancreas_hvgs(args.quick)
    command = recorded_command("linear_vi.py", args, "epochs", "kl_warmup", "seeds", "threads",
                               "only", "quick")  # fmt: skip
    payload = {
        "benchmark": "linear_vi",
        "command": command,
        "seeds": args.seeds,
        "quick": args.quick,
        "environment": environment() | {"cpu_threads": args.threads},
        "data": {
            "set": "pancreas (Baron, human 1)",
            "cells": adata.n_obs,
            "genes": adata.n_vars,
            "held_out_fraction": 0.1,
        },
        "rows": rows,
        "comparisons": comparisons,
    }
    page = [
        f"# LinearVI vs LinearSCVI — pancreas, {adata.n_obs} cells × {adata.n_vars} HVGs",
        "",
        f"Seeds {args.seeds}, mean ± sd; 10 % of cells held out per seed; "
        f"{args.threads} CPU threads. Timing: s / epoch is the median epoch of the same "
        "`train` call whose whole wall time is the next column. Command: "
        f"`{command}`",
        "",
        *rows_table(rows, METRICS, DIGITS),
        "",
        "Like-for-like comparisons (a lead only beyond 2 sd of the difference):",
        "",
        *comparisons_table(comparisons),
    ]
    write_results("linear_vi", payload, "\n".join(page), args.results_dir)


if __name__ == "__main__":
    main()
