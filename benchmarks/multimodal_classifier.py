"""Label transfer on the Liu et al. CITE-seq PBMCs: MultimodalClassifier vs SCANVI / TOTALANVI.

Reference: batches B1 and B2 (labelled); query: B3, its labels hidden (set to "Unknown")
and used only to score (T_gd cells exist only in B3: an error for every method). Seeds 0–2,
each (method, seed) in a fresh process with ``torch.set_num_threads(--threads)``.

Like for like: every model has 20 latent dimensions and one hidden layer of 128 units in its
encoders and decoders, gets ``--epochs`` (30) reference epochs, is mapped onto the query by
scArches surgery (``load_query_data``) and trained there ``--query-epochs`` (10).

- ours: RNA + protein, RNA only, and RNA + protein with a query lacking the protein modality;
- SCANVI (RNA), scvi-tools' recommended route: SCVI for ``--epochs``, then
  ``SCANVI.from_scvi_model`` for ``--query-epochs``, then the query;
- TOTALANVI (RNA + protein), from scratch (it has no ``from_totalvi_model``); its defaults
  (2×256 encoder) as an extra row.

Scores on B3: accuracy, balanced accuracy, macro-F1, expected calibration error (15 bins),
seconds per reference epoch (median epoch; for SCANVI the SCVI pretraining epochs), wall time
of the whole method, peak RSS.

Run from the repository root (results in ``benchmarks/results/multimodal_classifier.*``)::

    SCVI_INTERPRET_DATA=../shared/data python benchmarks/multimodal_classifier.py
"""

from __future__ import annotations

import argparse
from functools import partial

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from _common import EpochTimer, data_dir, environment, recorded_command, write_results
from _seeds import (
    Method,
    add_common_arguments,
    compare,
    comparisons_table,
    rows_table,
    run_methods,
)

N_LATENT, N_HIDDEN = 20, 128

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
    from scvi_interpret.tl import expected_calibration_error

    labels = probabilities.columns[probabilities.to_numpy().argmax(1)]
    codes = pd.Index(probabilities.columns).get_indexer(truth)
    known = codes >= 0
    return {
        "accuracy": float(accuracy_score(truth, labels)),
        "balanced_accuracy": float(balanced_accuracy_score(truth, labels)),
        "macro_f1": float(f1_score(truth, labels, average="macro")),
        "ece": expected_calibration_error(probabilities.to_numpy()[known], codes[known]),
    }


def _data(args) -> tuple[md.MuData, md.MuData]:
    import scvi_interpret as si

    return split(si.datasets.pbmc_citeseq(data_dir()), 0.03 if args.quick else 1.0, 0)


def run_ours(seed: int, args, modalities: dict, drop_query_protein: bool = False) -> dict:
    import scvi

    from scvi_interpret.model import MultimodalClassifier

    reference, query = _data(args)
    scvi.settings.seed = seed
    MultimodalClassifier.setup_mudata(
        reference, labels_key="cell_type", batch_key="batch", modalities=modalities
    )
    model = MultimodalClassifier(reference, n_latent=N_LATENT, n_hidden=N_HIDDEN, n_layers=1)
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
    result = scores(truth, query_model.predict(soft=True))
    result["ece_uncalibrated"] = scores(truth, query_model.predict(soft=True, calibrated=False))[
        "ece"
    ]
    result["seconds_per_epoch"] = timer.seconds_per_epoch()
    return result


def run_scanvi(seed: int, args) -> dict:
    import scvi

    reference, query = _data(args)
    ref = reference.mod["rna"].copy()
    ref.obs = reference.obs.copy()
    scvi.settings.seed = seed
    scvi.model.SCVI.setup_anndata(ref, labels_key="cell_type", batch_key="batch")
    pretrained = scvi.model.SCVI(ref, n_latent=N_LATENT, n_hidden=N_HIDDEN, n_layers=1)
    timer = EpochTimer()
    pretrained.train(max_epochs=args.epochs, callbacks=[timer], enable_progress_bar=False)
    model = scvi.model.SCANVI.from_scvi_model(pretrained, unlabeled_category=UNKNOWN)
    # batch norm cannot take a last minibatch of one cell: drop it (SCANVI's labelled loader)
    model.train(max_epochs=args.query_epochs, enable_progress_bar=False,
                datasplitter_kwargs={"drop_last": True})  # fmt: skip
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


def run_totalanvi(seed: int, args, **model_kwargs) -> dict:
    import scvi
    from scvi.external import TOTALANVI

    reference, query = _data(args)
    ref = _with_protein(reference)
    scvi.settings.seed = seed
    TOTALANVI.setup_anndata(
        ref, protein_expression_obsm_key="protein_expression", batch_key="batch",
        labels_key="cell_type", unlabeled_category=UNKNOWN,
    )  # fmt: skip
    model = TOTALANVI(ref, **model_kwargs)
    timer = EpochTimer()
    model.train(max_epochs=args.epochs, callbacks=[timer], enable_progress_bar=False)
    q = _with_protein(query)
    query_model = TOTALANVI.load_query_data(q, model)
    query_model.train(max_epochs=args.query_epochs, plan_kwargs={"weight_decay": 0.0},
                      enable_progress_bar=False)  # fmt: skip
    result = scores(query.obs["truth"], query_model.predict(soft=True))
    result["seconds_per_epoch"] = timer.seconds_per_epoch()
    return result


METRICS = {
    "accuracy": "accuracy", "balanced accuracy": "balanced_accuracy", "macro-F1": "macro_f1",
    "ECE": "ece", "ECE uncalibrated": "ece_uncalibrated", "s / epoch": "seconds_per_epoch",
    "wall (s)": "wall_seconds", "peak RSS (MB)": "peak_rss_mb",
}  # fmt: skip
DIGITS = {"wall_seconds": 0, "peak_rss_mb": 0, "seconds_per_epoch": 2}
OURS = "MultimodalClassifier (RNA + protein)"
COMPARED = {"balanced_accuracy": True, "accuracy": True, "ece": False, "seconds_per_epoch": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--query-epochs", type=int, default=10)
    add_common_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.query_epochs = 2, 1
    same = f"{args.epochs} + {args.query_epochs} query epochs, latent {N_LATENT}"
    both = {"rna": "rna", "protein": "prot"}
    methods = [
        Method(OURS, f"{same}, encoders 1×{N_HIDDEN}", "ours", partial(run_ours, modalities=both)),
        Method("MultimodalClassifier (RNA)", f"{same}, encoder 1×{N_HIDDEN}", "ours variant",
               partial(run_ours, modalities={"rna": "rna"})),
        Method("MultimodalClassifier (RNA + protein; query RNA only)",
               f"{same}, encoders 1×{N_HIDDEN}; the query without its protein modality",
               "ours variant", partial(run_ours, modalities=both, drop_query_protein=True)),
        Method("SCANVI (RNA)", f"SCVI {args.epochs} epochs → SCANVI {args.query_epochs} → "
               f"query {args.query_epochs}, latent {N_LATENT}, 1×{N_HIDDEN}", "peer",
               run_scanvi),
        Method("TOTALANVI (RNA + protein)", f"{same}, encoder 1×{N_HIDDEN}, decoder 1 layer",
               "peer", partial(run_totalanvi, n_hidden=N_HIDDEN, n_layers_encoder=1)),
        Method("TOTALANVI (RNA + protein), defaults", f"{same}, encoder 2×256 (its defaults)",
               "peer default", run_totalanvi),
    ]  # fmt: skip
    rows = run_methods(methods, args)
    comparisons = [
        compare(rows, OURS, peer, metric, higher)
        for peer in rows if rows[peer]["role"].startswith("peer") and OURS in rows
        for metric, higher in COMPARED.items()
    ]  # fmt: skip
    reference, query = _data(args)
    command = recorded_command("multimodal_classifier.py", args, "epochs", "query_epochs", "seeds",
                               "threads", "only", "quick")  # fmt: skip
    payload = {
        "benchmark": "multimodal_classifier",
        "command": command,
        "seeds": args.seeds,
        "quick": args.quick,
        "environment": environment() | {"cpu_threads": args.threads},
        "data": {
            "set": "Liu et al. 2021 CITE-seq PBMC",
            "reference": list(REFERENCE),
            "query": QUERY,
            "reference_cells": reference.n_obs,
            "query_cells": query.n_obs,
            "genes": reference.mod["rna"].n_vars,
            "proteins": reference.mod["prot"].n_vars,
        },
        "rows": rows,
        "not_run": {m.name: "left out by --only" for m in methods if m.name not in rows},
        "comparisons": comparisons,
    }
    page = [
        f"# Label transfer — Liu et al. CITE-seq: reference B1+B2 ({reference.n_obs} cells), "
        f"query B3 ({query.n_obs} cells, labels hidden)",
        "",
        f"Seeds {args.seeds}, mean ± sd; {args.threads} CPU threads; each (method, seed) in its "
        "own process. s / epoch: median reference epoch; wall: the whole method (reference, "
        f"query, prediction). Command: `{command}`",
        "",
        *rows_table(rows, METRICS, DIGITS),
        *(f"\nNot run: {name} — {why}" for name, why in payload["not_run"].items()),
        "",
        "Like-for-like comparisons with our RNA + protein model (a lead only beyond 2 sd of the "
        "difference):",
        "",
        *comparisons_table(comparisons),
    ]
    write_results("multimodal_classifier", payload, "\n".join(page), args.results_dir)


if __name__ == "__main__":
    main()
