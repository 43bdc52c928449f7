"""ProgramVI vs scArches' EXPIMAP on the Baron pancreas data with Reactome programs, seeds 0–2.

2,000 highly variable genes, Reactome sets with at least 12 of them (190 programs), hard
masks, no extra nodes, the same held-out 10 % of cells per seed, ``--epochs`` (400) for both.
Headline, like for like: ProgramVI with EXPIMAP's encoder (3 hidden layers of 256 units) and
its KL weight (0.5, the scArches tutorial's ``alpha_kl``); ProgramVI's defaults (1×128
encoder, KL weight 1) are an extra row. Timing covers the same work on both sides: the whole
``train`` call (the peer's own, in its environment; ours around ``model.train``), divided by
the epochs for s / epoch. Also: held-out reconstruction NLL, active programs, and how
informative the program activities are (5-fold cross-validated balanced accuracy of a
logistic regression predicting the cell type from the activities of all cells).

scArches 0.6.1 needs its own environment (Python 3.11), made once with::

    python -m venv .venv-expimap
    .venv-expimap/bin/pip install torch==2.13.0
    .venv-expimap/bin/pip install scarches==0.6.1 "anndata<0.11" "scanpy<1.11" \\
        scvi-tools==1.1.6.post2 "numpy<2" jax==0.4.30 jaxlib==0.4.30 flax==0.8.5 \\
        orbax-checkpoint==0.5.20 numpyro==0.15.3 chex==0.1.86 optax==0.2.2

Without it, the EXPIMAP row is left out and the results say so. Run from the repository root::

    SCVI_INTERPRET_DATA=../shared/data python benchmarks/program_vi.py
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from _common import (
    EpochTimer,
    data_dir,
    environment,
    held_out_nll,
    held_out_split,
    pancreas_hvgs,
    recorded_command,
    write_results,
)
from _seeds import (
    Method,
    add_common_arguments,
    compare,
    comparisons_table,
    rows_table,
    run_methods,
)

PEER_SCRIPT = Path(__file__).with_name("_expimap_peer.py")
BATCH_SIZE = 128


def informativeness(activities: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """5-fold CV balanced accuracy of predicting the cell type from program activities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    scores = cross_val_score(classifier, activities, labels, cv=folds, scoring="balanced_accuracy")
    return float(scores.mean())


def _data(seed: int, quick: bool):
    """Train / test AnnData (this seed's split), the program mask, labels of train + test."""
    import scvi_interpret as si

    adata = pancreas_hvgs(quick)
    gmt = data_dir() / "genesets" / "c2.cp.reactome.v7.5.1.symbols.gmt"
    mask = si.genesets.build_mask(adata.var_names, gmt, min_genes=5 if quick else 12)
    train_idx, test_idx = held_out_split(adata.n_obs, 0.1, seed)
    train, test = adata[train_idx].copy(), adata[test_idx].copy()
    labels = np.concatenate([train.obs["cell_type"], test.obs["cell_type"]])
    return train, test, mask, labels


def run_ours(seed: int, args: argparse.Namespace, kl_weight: float, **model_kwargs) -> dict:
    import scvi

    import scvi_interpret as si

    train, test, mask, labels = _data(seed, args.quick)
    scvi.settings.seed = seed
    si.model.ProgramVI.setup_anndata(train, layer="counts")
    model = si.model.ProgramVI(train, gene_programs=mask, **model_kwargs)
    timer = EpochTimer()
    start = time.perf_counter()
    model.train(
        max_epochs=args.epochs, batch_size=BATCH_SIZE, train_size=1.0, callbacks=[timer],
        enable_progress_bar=False, plan_kwargs={"max_kl_weight": kl_weight},
    )  # fmt: skip
    seconds = time.perf_counter() - start
    si.model.ProgramVI.setup_anndata(test, layer="counts")
    activities = np.concatenate(
        [model.get_program_activity().to_numpy(), model.get_program_activity(test).to_numpy()]
    )
    return {
        "train_call_seconds": seconds,
        "seconds_per_epoch": seconds / args.epochs,
        "median_epoch_seconds": timer.seconds_per_epoch(),
        "held_out_nll": held_out_nll(model, test, seed),
        "n_active_programs": int(model.program_summary()["active"].sum()),
        "n_programs": mask.shape[1],
        "activity_cv_balanced_accuracy": informativeness(activities, labels, seed),
    }


def run_peer(seed: int, args: argparse.Namespace) -> dict:
    train, test, mask, labels = _data(seed, args.quick)
    with tempfile.TemporaryDirectory() as folder:
        inputs, out = Path(folder) / "inputs.npz", Path(folder) / "result.json"
        np.savez(inputs, train=train.layers["counts"].toarray(),
                 test=test.layers["counts"].toarray(), mask=mask.to_numpy())  # fmt: skip
        command = [args.peer_python, str(PEER_SCRIPT), "--inputs", str(inputs), "--epochs",
                   str(args.epochs), "--seed", str(seed), "--threads", str(args.threads),
                   "--out", str(out)]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        result = json.loads(out.read_text())
        activities = np.load(str(out) + ".activities.npy")
    result["activity_cv_balanced_accuracy"] = informativeness(activities, labels, seed)
    result["n_programs"] = mask.shape[1]
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


METRICS = {
    "s / epoch (train call / epochs)": "seconds_per_epoch",
    "train call (s)": "train_call_seconds",
    "held-out NLL": "held_out_nll",
    "active programs": "n_active_programs",
    "cell type from activities (CV balanced accuracy)": "activity_cv_balanced_accuracy",
    "peak RSS (MB)": "peak_rss_mb",
}
DIGITS = {"held_out_nll": 1, "train_call_seconds": 1, "n_active_programs": 1, "peak_rss_mb": 0}
COMPARED = {"seconds_per_epoch": False, "held_out_nll": False,
            "activity_cv_balanced_accuracy": True}  # fmt: skip
HEADLINE = "ProgramVI (EXPIMAP's encoder and KL weight)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--peer-python", default=".venv-expimap/bin/python")
    add_common_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.epochs = 2
    common = f"{args.epochs} epochs, hard mask, batch {BATCH_SIZE}"
    methods = [
        Method(HEADLINE, f"{common}, encoder 3×256, KL weight 0.5, group lasso 0.05", "ours",
               partial(run_ours, kl_weight=0.5, n_hidden=256, n_layers=3)),
        Method("ProgramVI (defaults)", f"{common}, encoder 1×128, KL weight 1, group lasso 0.05",
               "ours variant", partial(run_ours, kl_weight=1.0)),
        Method("EXPIMAP", f"{common}, encoder 3×256, alpha_kl 0.5, alpha 0.7 annealed over "
               f"{min(130, args.epochs)} epochs (scArches tutorial)", "peer", run_peer),
    ]  # fmt: skip
    not_run = {}
    if not Path(args.peer_python).is_file():
        not_run["EXPIMAP"] = f"{args.peer_python} not found (see the docstring to make it)"
        methods = [m for m in methods if m.name not in not_run]
    rows = run_methods(methods, args)
    comparisons = [
        compare(rows, ours, "EXPIMAP", metric, higher)
        for ours in (HEADLINE, "ProgramVI (defaults)") if "EXPIMAP" in rows and ours in rows
        for metric, higher in COMPARED.items()
    ]  # fmt: skip
    train, test, mask, _ = _data(0, args.quick)
    command = recorded_command("program_vi.py", args, "epochs", "seeds", "threads", "only",
                               "quick")  # fmt: skip
    payload = {
        "benchmark": "program_vi",
        "command": command,
        "seeds": args.seeds,
        "quick": args.quick,
        "environment": environment() | {"cpu_threads": args.threads},
        "data": {
            "set": "pancreas (Baron, human 1)",
            "cells": train.n_obs + test.n_obs,
            "genes": train.n_vars,
            "programs": mask.shape[1],
            "gene_sets": "MSigDB Reactome v7.5.1",
            "held_out_fraction": 0.1,
        },
        "rows": rows,
        "not_run": not_run,
        "comparisons": comparisons,
    }
    page = [
        f"# ProgramVI vs EXPIMAP — pancreas, {train.n_obs + test.n_obs} cells × {train.n_vars} "
        f"HVGs, {mask.shape[1]} Reactome programs",
        "",
        f"Seeds {args.seeds}, mean ± sd; 10 % of cells held out per seed; {args.threads} CPU "
        "threads for both. Timing: the whole `train` call on both sides. Command: "
        f"`{command}`",
        "",
        *rows_table(rows, METRICS, DIGITS),
        *(f"\nNot run: {name} — {why}" for name, why in not_run.items()),
        "",
        "Like-for-like comparisons (a lead only beyond 2 sd of the difference):",
        "",
        *comparisons_table(comparisons),
    ]
    write_results("program_vi", payload, "\n".join(page), args.results_dir)


if __name__ == "__main__":
    main()
