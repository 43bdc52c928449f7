"""ProgramVI vs scArches' EXPIMAP on the Baron pancreas data with Reactome programs.

2,000 highly variable genes, Reactome sets with at least 12 of them (190 programs), hard
masks, no extra nodes, the same epochs, seed and held-out cells for both. Reports seconds per
epoch, held-out reconstruction NLL, active programs, and how informative the program
activities are: 5-fold cross-validated balanced accuracy of a logistic regression predicting
the cell type from the activities of all cells.

scArches 0.6.1 needs its own environment (Python 3.11), made once with::

    python -m venv .venv-expimap
    .venv-expimap/bin/pip install torch==2.13.0
    .venv-expimap/bin/pip install scarches==0.6.1 "anndata<0.11" "scanpy<1.11" \\
        scvi-tools==1.1.6.post2 "numpy<2" jax==0.4.30 jaxlib==0.4.30 flax==0.8.5 \\
        orbax-checkpoint==0.5.20 numpyro==0.15.3 chex==0.1.86 optax==0.2.2

Run from the repository root::

    SCVI_INTERPRET_DATA=../shared/data python benchmarks/program_vi.py --epochs 400
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import scanpy as sc
import scvi
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import scvi_interpret as si
from _common import (
    EpochTimer,
    data_dir,
    environment,
    held_out_nll,
    held_out_split,
    write_results,
)

PEER_SCRIPT = Path(__file__).with_name("_expimap_peer.py")


def informativeness(activities: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """5-fold CV balanced accuracy of predicting the cell type from program activities."""
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    scores = cross_val_score(classifier, activities, labels, cv=folds, scoring="balanced_accuracy")
    return float(scores.mean())


def run_ours(
    train, test, mask, epochs: int, seed: int, plan_kwargs: dict, **model_kwargs
) -> tuple[dict, np.ndarray]:
    scvi.settings.seed = seed
    si.model.ProgramVI.setup_anndata(train, layer="counts")
    model = si.model.ProgramVI(train, gene_programs=mask, min_genes=12, **model_kwargs)
    timer = EpochTimer()
    model.train(
        max_epochs=epochs,
        batch_size=128,
        train_size=1.0,
        callbacks=[timer],
        enable_progress_bar=False,
        plan_kwargs=plan_kwargs,
    )
    si.model.ProgramVI.setup_anndata(test, layer="counts")
    activities = np.concatenate(
        [model.get_program_activity().to_numpy(), model.get_program_activity(test).to_numpy()]
    )
    result = {
        "seconds_per_epoch": float(np.sum(timer.seconds)) / epochs,
        "median_seconds_per_epoch": timer.seconds_per_epoch(),
        "total_train_seconds": float(np.sum(timer.seconds)),
        "held_out_nll": held_out_nll(model, test, seed),
        "n_active_programs": int(model.program_summary()["active"].sum()),
    }
    return result, activities


def run_peer(python: str, train, test, mask, epochs: int, seed: int) -> tuple[dict, np.ndarray]:
    with tempfile.TemporaryDirectory() as folder:
        inputs, out = Path(folder) / "inputs.npz", Path(folder) / "result.json"
        np.savez(
            inputs,
            train=train.layers["counts"].toarray(),
            test=test.layers["counts"].toarray(),
            mask=mask.to_numpy(),
        )
        command = [python, str(PEER_SCRIPT), "--inputs", str(inputs), "--epochs", str(epochs),
                   "--seed", str(seed), "--out", str(out)]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        result = json.loads(out.read_text())
        activities = np.load(str(out) + ".activities.npy")
    return result, activities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peer-python", default=".venv-expimap/bin/python")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if not Path(args.peer_python).is_file():
        sys.exit(f"{args.peer_python} not found: create the scArches environment (see --help).")

    adata = si.datasets.pancreas(data_dir())
    sc.pp.highly_variable_genes(
        adata, n_top_genes=2000, flavor="seurat_v3", layer="counts", subset=True
    )
    gmt = data_dir() / "genesets" / "c2.cp.reactome.v7.5.1.symbols.gmt"
    mask = si.genesets.build_mask(adata.var_names, gmt, min_genes=12)
    train_idx, test_idx = held_out_split(adata.n_obs, 0.1, args.seed)
    train, test = adata[train_idx].copy(), adata[test_idx].copy()
    labels = np.concatenate([train.obs["cell_type"], test.obs["cell_type"]])

    results = {}
    peer, peer_activities = run_peer(args.peer_python, train, test, mask, args.epochs, args.seed)
    peer["activity_cv_balanced_accuracy"] = informativeness(peer_activities, labels, args.seed)
    results["EXPIMAP"] = peer
    print("EXPIMAP", peer)
    contenders = [
        ("ProgramVI", {}, {}),
        # the objective EXPIMAP optimises: KL term weighted 0.5 (its tutorial's alpha_kl)
        ("ProgramVI (KL weight 0.5, as EXPIMAP)", {}, {"max_kl_weight": 0.5}),
        ("ProgramVI (group_lasso=0)", {"group_lasso": 0.0}, {}),
    ]
    for name, kwargs, plan_kwargs in contenders:
        result, activities = run_ours(
            train, test, mask, args.epochs, args.seed, plan_kwargs, **kwargs
        )
        result["activity_cv_balanced_accuracy"] = informativeness(activities, labels, args.seed)
        results[name] = result
        print(name, result)
    ours = results["ProgramVI"]

    ratios = {
        "time_ratio": ours["seconds_per_epoch"] / peer["seconds_per_epoch"],
        "nll_difference": ours["held_out_nll"] - peer["held_out_nll"],
        "cv_balanced_accuracy_difference": ours["activity_cv_balanced_accuracy"]
        - peer["activity_cv_balanced_accuracy"],
        "nll_difference_same_kl_weight": results["ProgramVI (KL weight 0.5, as EXPIMAP)"][
            "held_out_nll"
        ]
        - peer["held_out_nll"],
        "nll_difference_group_lasso_0": results["ProgramVI (group_lasso=0)"]["held_out_nll"]
        - peer["held_out_nll"],
    }
    payload = {
        "benchmark": "program_vi",
        "command": f"python benchmarks/program_vi.py --epochs {args.epochs} --seed {args.seed}",
        "data": {
            "set": "pancreas_baron_human1",
            "n_train_cells": len(train_idx),
            "n_test_cells": len(test_idx),
            "n_genes": adata.n_vars,
            "n_programs": mask.shape[1],
            "gene_sets": gmt.name,
        },
        "settings": {
            "epochs": args.epochs,
            "seed": args.seed,
            "batch_size": 128,
            "ProgramVI": "defaults (hard mask, group_lasso=0.05, 1×128 encoder, KL weight 1); "
            "then with EXPIMAP's KL weight 0.5; then without group lasso",
            "EXPIMAP": "scArches tutorial settings (hard mask, 3×256 encoder, alpha=0.7, "
            "alpha_kl=0.5, alpha_epoch_anneal=130), peer version " + peer.get("scarches", "?"),
        },
        "environment": environment(),
        "results": results,
        "ratios": ratios,
    }
    rows = [
        f"| {name} | {r['seconds_per_epoch']:.3f} | {r['held_out_nll']:.1f} | "
        f"{r['n_active_programs']} / {mask.shape[1]} | {r['activity_cv_balanced_accuracy']:.3f} |"
        for name, r in results.items()
    ]
    table = "\n".join(
        [
            f"ProgramVI vs EXPIMAP — pancreas, {adata.n_vars} HVGs, {mask.shape[1]} Reactome "
            f"programs, {args.epochs} epochs, {len(test_idx)} held-out cells",
            "",
            "| model | s / epoch | held-out NLL per cell | active programs | "
            "cell type from activities (CV balanced accuracy) |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"time ratio (ProgramVI / EXPIMAP): {ratios['time_ratio']:.2f}; NLL difference "
            f"(ProgramVI − EXPIMAP): {ratios['nll_difference']:+.1f}; balanced accuracy "
            f"difference: {ratios['cv_balanced_accuracy_difference']:+.3f}; NLL difference "
            f"at EXPIMAP's KL weight: {ratios['nll_difference_same_kl_weight']:+.1f}; "
            f"without group lasso: {ratios['nll_difference_group_lasso_0']:+.1f}",
        ]
    )
    write_results("program_vi", payload, table)


if __name__ == "__main__":
    main()
