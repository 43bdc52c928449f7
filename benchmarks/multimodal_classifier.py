"""Label transfer on the Liu et al. CITE-seq PBMCs: MultimodalClassifier vs SCANVI / TOTALANVI.

Reference: batches B1 and B2 (labelled); query: B3, its labels hidden (set to "Unknown")
and used only to score. Every model is trained on the reference for ``--epochs`` epochs, then
mapped onto the query by scArches surgery (``load_query_data``) and trained there for
``--query-epochs`` epochs; all from scratch, with the same budgets. Scores on B3: accuracy,
balanced accuracy, expected calibration error (15 bins) of the predicted probabilities, and
seconds per reference epoch. MultimodalClassifier runs with RNA + protein, RNA only, and with
RNA + protein in the reference but a query without its protein modality.

Run from the repository root (results in ``benchmarks/results/multimodal_classifier.*``)::

    SCVI_INTERPRET_DATA=../shared/data python benchmarks/multimodal_classifier.py
"""

from __future__ import annotations

import argparse
import time
import warnings

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import scvi
from sklearn.metrics import accuracy_score, balanced_accuracy_score

import scvi_interpret as si
from _common import EpochTimer, data_dir, environment, write_results
from scvi_interpret.model import MultimodalClassifier
from scvi_interpret.tl import expected_calibration_error

REFERENCE, QUERY, UNKNOWN = ("B1", "B2"), "B3", "Unknown"


def split(mdata: md.MuData, fraction: float, seed: int) -> tuple[md.MuData, md.MuData]:
    """Reference (B1, B2) and query (B3) MuData, optionally subsampled, with raw counts."""
    keep = np.ones(mdata.n_obs, dtype=bool)
    if fraction < 1:
        keep = np.random.default_rng(seed).random(mdata.n_obs) < fraction
    is_reference = mdata.obs["batch"].isin(REFERENCE).to_numpy() & keep
    is_query = (mdata.obs["batch"] == QUERY).to_numpy() & keep
    parts = []
    for mask in (is_reference, is_query):
        part = md.MuData({k: mdata.mod[k][mask].copy() for k in ("rna", "prot")})
        part.obs = mdata.obs.loc[mask, ["cell_type", "batch"]].copy()
        part.obs["batch"] = part.obs["batch"].astype(str).astype("category")
        parts.append(part)
    reference, query = parts
    # T_gd cells are only in B3: a class the reference never saw (scored as errors for all)
    reference.obs["cell_type"] = reference.obs["cell_type"].cat.remove_unused_categories()
    query.obs["truth"] = query.obs["cell_type"].astype(str)
    query.obs["cell_type"] = UNKNOWN
    return reference, query


def scores(truth: pd.Series, probabilities: pd.DataFrame) -> dict:
    labels = probabilities.columns[probabilities.to_numpy().argmax(1)]
    codes = pd.Index(probabilities.columns).get_indexer(truth)
    known = codes >= 0
    return {
        "accuracy": float(accuracy_score(truth, labels)),
        "balanced_accuracy": float(balanced_accuracy_score(truth, labels)),
        "ece": expected_calibration_error(probabilities.to_numpy()[known], codes[known]),
    }


def run_ours(reference, query, modalities, args, drop_query_protein=False, **model_kwargs):
    scvi.settings.seed = args.seed
    reference = reference.copy()
    MultimodalClassifier.setup_mudata(
        reference, labels_key="cell_type", batch_key="batch", modalities=modalities
    )
    model = MultimodalClassifier(reference, **model_kwargs)
    timer = EpochTimer()
    model.train(max_epochs=args.epochs, callbacks=[timer], enable_progress_bar=False)
    if drop_query_protein:
        rna_only = md.MuData({"rna": query.mod["rna"].copy()})
        rna_only.obs = query.obs.copy()
        query = rna_only
    prepared = MultimodalClassifier.prepare_query_mudata(query, model)
    query_model = MultimodalClassifier.load_query_data(prepared, model)
    query_model.train(max_epochs=args.query_epochs, enable_progress_bar=False)
    truth = query.obs["truth"]
    calibrated = query_model.predict(soft=True)
    raw = query_model.predict(soft=True, calibrated=False)
    result = scores(truth, calibrated)
    result["ece_uncalibrated"] = scores(truth, raw)["ece"]
    result["temperature"] = float(model.calibration_["temperature"])
    result["seconds_per_epoch"] = timer.seconds_per_epoch()
    return result


def run_scanvi(reference, query, args) -> dict:
    scvi.settings.seed = args.seed
    ref = reference.mod["rna"].copy()
    ref.obs = reference.obs.copy()
    scvi.model.SCANVI.setup_anndata(
        ref, labels_key="cell_type", unlabeled_category=UNKNOWN, batch_key="batch"
    )
    model = scvi.model.SCANVI(ref)
    timer = EpochTimer()
    model.train(max_epochs=args.epochs, callbacks=[timer], enable_progress_bar=False)
    q = query.mod["rna"].copy()
    q.obs = query.obs.copy()
    query_model = scvi.model.SCANVI.load_query_data(q, model)
    query_model.train(max_epochs=args.query_epochs, plan_kwargs={"weight_decay": 0.0},
                      enable_progress_bar=False)  # fmt: skip
    result = scores(query.obs["truth"], query_model.predict(soft=True))
    result["seconds_per_epoch"] = timer.seconds_per_epoch()
    return result


def _with_protein(mdata: md.MuData) -> ad.AnnData:
    adata = mdata.mod["rna"].copy()
    adata.obs = mdata.obs.copy()
    protein = mdata.mod["prot"]
    adata.obsm["protein_expression"] = pd.DataFrame(
        np.asarray(protein.X.todense() if hasattr(protein.X, "todense") else protein.X),
        index=adata.obs_names,
        columns=protein.var_names,
    )
    return adata


def run_totalanvi(reference, query, args) -> dict:
    from scvi.external import TOTALANVI

    scvi.settings.seed = args.seed
    ref = _with_protein(reference)
    TOTALANVI.setup_anndata(
        ref, protein_expression_obsm_key="protein_expression", batch_key="batch",
        labels_key="cell_type", unlabeled_category=UNKNOWN,
    )  # fmt: skip
    model = TOTALANVI(ref)
    timer = EpochTimer()
    model.train(max_epochs=args.epochs, callbacks=[timer], enable_progress_bar=False)
    q = _with_protein(query)
    query_model = TOTALANVI.load_query_data(q, model)
    query_model.train(max_epochs=args.query_epochs, plan_kwargs={"weight_decay": 0.0},
                      enable_progress_bar=False)  # fmt: skip
    result = scores(query.obs["truth"], query_model.predict(soft=True))
    result["seconds_per_epoch"] = timer.seconds_per_epoch()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--query-epochs", type=int, default=10)
    parser.add_argument("--fraction", type=float, default=1.0, help="subsample cells")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", nargs="*", default=[], help="methods to leave out")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    mdata = si.datasets.pbmc_citeseq(data_dir())
    reference, query = split(mdata, args.fraction, args.seed)
    runs = {
        "MultimodalClassifier (RNA + protein)": lambda: run_ours(
            reference, query, {"rna": "rna", "protein": "prot"}, args
        ),
        "MultimodalClassifier (RNA)": lambda: run_ours(reference, query, {"rna": "rna"}, args),
        "MultimodalClassifier (RNA + protein; query RNA only)": lambda: run_ours(
            reference, query, {"rna": "rna", "protein": "prot"}, args, drop_query_protein=True
        ),
        "SCANVI (RNA)": lambda: run_scanvi(reference, query, args),
        "TOTALANVI (RNA + protein)": lambda: run_totalanvi(reference, query, args),
    }
    results = {}
    for name, run in runs.items():
        if any(word in name for word in args.skip):
            continue
        start = time.perf_counter()
        results[name] = run()
        results[name]["wall_seconds"] = time.perf_counter() - start
        print(name, results[name], flush=True)
    command = (
        "SCVI_INTERPRET_DATA=../shared/data python benchmarks/multimodal_classifier.py "
        f"--epochs {args.epochs} --query-epochs {args.query_epochs} "
        f"--fraction {args.fraction} --seed {args.seed}"
    )
    payload = {
        "command": command,
        "data": {
            "reference_cells": reference.n_obs,
            "query_cells": query.n_obs,
            "genes": reference.mod["rna"].n_vars,
            "proteins": reference.mod["prot"].n_vars,
        },
        "environment": environment(),
        "results": results,
    }
    lines = [
        f"Liu et al. CITE-seq: reference B1+B2 ({reference.n_obs} cells), query B3 "
        f"({query.n_obs} cells, labels hidden); {args.epochs} reference + {args.query_epochs} "
        "query epochs each.",
        "",
        "| method | accuracy | balanced accuracy | ECE | s / epoch |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        ece = f"{r['ece']:.3f}"
        if "ece_uncalibrated" in r:
            ece += f" (uncalibrated {r['ece_uncalibrated']:.3f})"
        lines.append(
            f"| {name} | {r['accuracy']:.3f} | {r['balanced_accuracy']:.3f} | {ece} | "
            f"{r['seconds_per_epoch']:.2f} |"
        )
    write_results("multimodal_classifier", payload, "\n".join(lines))


if __name__ == "__main__":
    main()
