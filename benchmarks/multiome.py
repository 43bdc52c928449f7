"""RNA + ATAC label transfer on real 10x Multiome bone marrow: ours vs MULTIVI, SCANVI, logreg.

Data: ``si.datasets.bmmc_multiome()`` (Luecken et al. 2021; 5,000 cells, 4,000 genes as
counts, 20,001 binary peaks, 22 cell types). Reference: sites 1–3 (labelled); query: site 4,
its labels hidden and used only to score (a class absent from the reference counts as an
error for every method). Seeds 0–2; each (method, seed) runs in a fresh child process (so its
peak RSS is its own) with ``torch.set_num_threads(--threads)``.

Methods, like for like (1 hidden layer of 128 units, 20 latent dimensions wherever a peer
has those knobs; ``--epochs`` reference and ``--query-epochs`` query epochs):

- ours, RNA + ATAC (default likelihoods: NB for RNA, Bernoulli for the binary peaks), RNA
  only, ATAC only, and RNA + ATAC with Poisson for the peaks (the likelihood choice); the
  query mapped by scArches surgery (``load_query_data``) and trained ``--query-epochs``;
- ours, RNA + ATAC reference, queries with RNA only and with ATAC only (mosaic mapping);
- MULTIVI (scvi-tools) trained on reference + query together (unsupervised, batch = site)
  for ``--epochs``, labels transferred by a 15-nearest-neighbour classifier on its latent
  (the label transfer scvi-tools documents);
- SCANVI on RNA: SCVI pretrained ``--epochs``, SCANVI from it ``--query-epochs``, the query
  mapped with ``load_query_data`` (scvi-tools' recommended route);
- logistic regression on log-normalised RNA, and on RNA + LSI of ATAC (TF-IDF, 50 SVD
  components fitted on the reference, the first (depth) dropped).

Scores on site 4: accuracy, balanced accuracy, macro-F1, ECE (15 bins), seconds per
reference epoch (and per 1,000 training cells), peak RSS. For ours (RNA + ATAC, seed 0) also:
feature importance over all 5,000 cells (both modalities, each cell's predicted class) with
its time, whether each class's top-20 peaks open in that class and its top-20 RNA features
hold its known markers, and cross-modal targets ``rna:<gene>`` explained by the peaks (see
``_multiome_attribution.py``).

Run from the repository root (results in ``benchmarks/results/multiome.*``)::

    SCVI_INTERPRET_DATA=../shared/data python benchmarks/multiome.py

``--attribution-only`` re-runs just the attribution checks into the existing results.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np
import pandas as pd

from _common import EpochTimer, data_dir, environment, recorded_command, write_results
from _multiome_attribution import attribution_checks, markdown
from _seeds import (
    Method,
    add_common_arguments,
    compare,
    comparisons_table,
    rows_table,
    run_methods,
    summarise,
)

REFERENCE_SITES, QUERY_SITE, UNKNOWN = ("site1", "site2", "site3"), "site4", "Unknown"


def _data(quick: bool = False):
    import scvi_interpret as si

    mdata = si.datasets.bmmc_multiome(data_dir())
    if quick:  # a smoke run: a fifth of the cells
        mdata = mdata[np.random.default_rng(0).random(mdata.n_obs) < 0.2].copy()
    is_reference = mdata.obs["batch"].isin(REFERENCE_SITES).to_numpy()
    return mdata, is_reference


def _split(mdata, is_reference, modalities=("rna", "atac")):
    """Reference and query MuData of the named modalities; query labels hidden."""
    import mudata as md

    parts = []
    for mask in (is_reference, ~is_reference):
        part = md.MuData({m: mdata.mod[m][mask].copy() for m in modalities})
        part.obs = mdata.obs.loc[mask, ["cell_type", "batch"]].copy()
        part.obs["batch"] = part.obs["batch"].astype(str).astype("category")
        parts.append(part)
    reference, query = parts
    reference.obs["cell_type"] = reference.obs["cell_type"].astype(str).astype("category")
    query.obs["truth"] = query.obs["cell_type"].astype(str)
    query.obs["cell_type"] = UNKNOWN
    return reference, query


def _scores(truth: pd.Series, probabilities: pd.DataFrame) -> dict:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    from scvi_interpret.tl import expected_calibration_error

    labels = np.asarray(probabilities.columns)[probabilities.to_numpy().argmax(1)]
    codes = pd.Index(probabilities.columns).get_indexer(truth)
    known = codes >= 0
    return {
        "accuracy": float(accuracy_score(truth, labels)),
        "balanced_accuracy": float(balanced_accuracy_score(truth, labels)),
        "macro_f1": float(f1_score(truth, labels, average="macro")),
        "ece": expected_calibration_error(probabilities.to_numpy()[known], codes[known]),
    }


def _held_out_peak_log_likelihood(model) -> float:
    """Mean per-cell Bernoulli log-likelihood of the peaks on the held-out reference cells.

    The Bernoulli and the Poisson model both imply ``P(open) = 1 - exp(-rate)``: scored the
    same way, on binary data, they compare on equal terms.
    """
    import torch

    from scvi_interpret.nn import binary_poisson_log_prob

    module, values = model.module, []
    loader = model._make_data_loader(model.adata, indices=model.validation_indices,
                                     batch_size=256)  # fmt: skip
    with torch.no_grad():
        for tensors in loader:
            _, generative = module(tensors, compute_loss=False)
            rate = generative["px"]["atac"].rate
            values.append(binary_poisson_log_prob(tensors["X_atac"], rate).sum(-1))
    return float(torch.cat(values).mean())


def run_ours(seed, args, modalities=("rna", "atac"), likelihoods=None, query_only=None,
             attribution=False):  # fmt: skip
    import scvi

    from scvi_interpret.model import MultimodalClassifier

    mdata, is_reference = _data(args.quick)
    reference, query = _split(mdata, is_reference, modalities)
    scvi.settings.seed = seed
    MultimodalClassifier.setup_mudata(reference, labels_key="cell_type", batch_key="batch",
                                      modalities={m: m for m in modalities})  # fmt: skip
    model = MultimodalClassifier(reference, n_hidden=128, n_latent=20, likelihoods=likelihoods)
    timer = EpochTimer()
    model.train(max_epochs=args.epochs, callbacks=[timer], enable_progress_bar=False)
    result = {"likelihoods": dict(model.module.likelihoods)}
    if "atac" in modalities:
        result["held_out_peak_log_likelihood"] = _held_out_peak_log_likelihood(model)
    if query_only is not None:
        import mudata as md

        kept = md.MuData({query_only: query.mod[query_only].copy()})
        kept.obs = query.obs.copy()
        query = kept
    prepared = MultimodalClassifier.prepare_query_mudata(query, model)
    query_model = MultimodalClassifier.load_query_data(prepared, model)
    query_model.train(max_epochs=args.query_epochs, enable_progress_bar=False)
    result |= _scores(query.obs["truth"], query_model.predict(soft=True))
    result["seconds_per_epoch"] = timer.seconds_per_epoch()
    result["training_cells"] = len(model.train_indices)
    if attribution and seed == 0 and not args.quick:
        result["attribution"] = _attribution_checks(query_model, mdata, seed)
    return result


def _attribution_checks(model, mdata, seed) -> dict:
    """Importance checks on all cells with the query model (it knows all four sites)."""
    from scvi_interpret.model import MultimodalClassifier

    everything = mdata.copy()
    everything.obs["cell_type"] = UNKNOWN  # not needed: each cell explains its prediction
    everything.obs["batch"] = everything.obs["batch"].astype(str).astype("category")
    everything = MultimodalClassifier.prepare_query_mudata(everything, model)
    return attribution_checks(model, mdata, everything, seed)


def run_multivi(seed, args):
    import scvi
    from sklearn.neighbors import KNeighborsClassifier

    mdata, is_reference = _data(args.quick)
    mdata = mdata.copy()
    scvi.settings.seed = seed
    modalities = {"rna_layer": "rna", "atac_layer": "atac"}
    scvi.model.MULTIVI.setup_mudata(mdata, batch_key="batch", modalities=modalities)
    model = scvi.model.MULTIVI(
        mdata, n_genes=mdata["rna"].n_vars, n_regions=mdata["atac"].n_vars, n_hidden=128,
        n_latent=20, n_layers_encoder=1, n_layers_decoder=1,
    )  # fmt: skip
    timer = EpochTimer()
    model.train(max_epochs=args.epochs, callbacks=[timer], enable_progress_bar=False)
    latent = model.get_latent_representation()
    labels = mdata.obs["cell_type"].astype(str).to_numpy()
    knn = KNeighborsClassifier(n_neighbors=15).fit(latent[is_reference], labels[is_reference])
    probabilities = pd.DataFrame(knn.predict_proba(latent[~is_reference]), columns=knn.classes_)
    result = _scores(pd.Series(labels[~is_reference]), probabilities)
    result["seconds_per_epoch"] = timer.seconds_per_epoch()
    result["training_cells"] = len(model.train_indices)
    return result


def run_scanvi(seed, args):
    import scvi

    mdata, is_reference = _data(args.quick)
    reference, query = _split(mdata, is_reference, ("rna",))
    ref = reference.mod["rna"].copy()
    ref.obs = reference.obs.copy()
    scvi.settings.seed = seed
    scvi.model.SCVI.setup_anndata(ref, batch_key="batch", labels_key="cell_type")
    scvi_model = scvi.model.SCVI(ref, n_hidden=128, n_latent=20)
    timer = EpochTimer()
    scvi_model.train(max_epochs=args.epochs, callbacks=[timer], enable_progress_bar=False)
    model = scvi.model.SCANVI.from_scvi_model(scvi_model, unlabeled_category=UNKNOWN)
    # batch norm cannot take a last minibatch of one cell: drop it (SCANVI's labelled loader)
    model.train(max_epochs=args.query_epochs, enable_progress_bar=False,
                datasplitter_kwargs={"drop_last": True})  # fmt: skip
    q = query.mod["rna"].copy()
    q.obs = query.obs.copy()
    query_model = scvi.model.SCANVI.load_query_data(q, model)
    query_model.train(max_epochs=args.query_epochs, plan_kwargs={"weight_decay": 0.0},
                      enable_progress_bar=False)  # fmt: skip
    result = _scores(query.obs["truth"], query_model.predict(soft=True))
    result["seconds_per_epoch"] = timer.seconds_per_epoch()
    result["training_cells"] = len(scvi_model.train_indices)
    return result


def _log_normalised(matrix) -> np.ndarray:
    from scipy import sparse

    totals = np.asarray(matrix.sum(1)).ravel()
    scaled = sparse.diags(1e4 / np.maximum(totals, 1)) @ sparse.csr_matrix(matrix)
    return np.log1p(scaled.toarray())


def _lsi(reference, query, n_components: int = 50, seed: int = 0):
    from scipy import sparse
    from sklearn.decomposition import TruncatedSVD

    def tf(matrix):
        matrix = sparse.csr_matrix(matrix, dtype=np.float64)
        return sparse.diags(1 / np.maximum(np.asarray(matrix.sum(1)).ravel(), 1)) @ matrix

    idf = reference.shape[0] / (1 + np.asarray(reference.sum(0)).ravel())
    transform = lambda m: np.log1p(tf(m) @ sparse.diags(idf) * 1e4)  # noqa: E731
    svd = TruncatedSVD(n_components, random_state=seed).fit(transform(reference))
    return svd.transform(transform(reference))[:, 1:], svd.transform(transform(query))[:, 1:]


def run_logreg(seed, args, with_atac: bool):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    mdata, is_reference = _data(args.quick)
    rna = mdata.mod["rna"].X
    parts_reference, parts_query = (
        [_log_normalised(rna[is_reference])],
        [_log_normalised(rna[~is_reference])],
    )
    if with_atac:
        atac = mdata.mod["atac"].X
        lsi_reference, lsi_query = _lsi(atac[is_reference], atac[~is_reference], seed=seed)
        parts_reference.append(lsi_reference)
        parts_query.append(lsi_query)
    scaler = StandardScaler().fit(np.hstack(parts_reference))
    x_reference = scaler.transform(np.hstack(parts_reference))
    x_query = scaler.transform(np.hstack(parts_query))
    labels = mdata.obs["cell_type"].astype(str).to_numpy()
    start = time.perf_counter()
    classifier = LogisticRegression(max_iter=1000, C=0.1, random_state=seed)
    classifier.fit(x_reference, labels[is_reference])
    probabilities = pd.DataFrame(classifier.predict_proba(x_query), columns=classifier.classes_)
    result = _scores(pd.Series(labels[~is_reference]), probabilities)
    result["fit_seconds"] = time.perf_counter() - start
    return result


SAME = "1×128 encoder/decoders, latent 20"


def _methods(args) -> list[Method]:
    epochs = f"{args.epochs} + {args.query_epochs} query epochs"
    ours = f"{epochs}, {SAME}"
    return [
        Method("ours RNA+ATAC", f"{ours}, NB + Bernoulli peaks", "ours",
               partial(run_ours, attribution=True)),
        Method("ours RNA+ATAC (Poisson peaks)", f"{ours}, NB + Poisson peaks", "ours variant",
               partial(run_ours, likelihoods={"atac": "poisson"})),
        Method("ours RNA only", ours, "ours variant", partial(run_ours, modalities=("rna",))),
        Method("ours ATAC only", f"{ours}, Bernoulli peaks", "ours variant",
               partial(run_ours, modalities=("atac",))),
        Method("ours RNA+ATAC, query RNA only", f"{ours}; the query without ATAC",
               "ours variant", partial(run_ours, query_only="rna")),
        Method("ours RNA+ATAC, query ATAC only", f"{ours}; the query without RNA",
               "ours variant", partial(run_ours, query_only="atac")),
        Method("MULTIVI + kNN", f"{args.epochs} epochs on reference + query (unsupervised), "
               f"{SAME}; 15-NN on the latent", "peer", run_multivi),
        Method("SCANVI (RNA)", f"SCVI {args.epochs} → SCANVI {args.query_epochs} → query "
               f"{args.query_epochs}, {SAME}", "peer", run_scanvi),
        Method("logreg RNA", "log-normalised RNA, standardised, C=0.1", "peer",
               partial(run_logreg, with_atac=False)),
        Method("logreg RNA+LSI(ATAC)", "log-normalised RNA + LSI of ATAC (TF-IDF, 50 SVD, "
               "first dropped), standardised, C=0.1",
               "peer", partial(run_logreg, with_atac=True)),
    ]  # fmt: skip


METRICS = {
    "accuracy": "accuracy", "balanced accuracy": "balanced_accuracy", "macro-F1": "macro_f1",
    "ECE": "ece", "s / epoch": "seconds_per_epoch",
    "s / epoch / 1000 cells": "seconds_per_epoch_per_1000_cells", "peak RSS (MB)": "peak_rss_mb",
    "held-out peak log-likelihood": "held_out_peak_log_likelihood",
}  # fmt: skip
DIGITS = {"peak_rss_mb": 0, "held_out_peak_log_likelihood": 1}
OURS = "ours RNA+ATAC"


def _comparisons(rows: dict) -> list[dict]:
    wanted = [(peer, "balanced_accuracy", True) for peer in rows if rows[peer]["role"] == "peer"]
    wanted += [("ours RNA only", "balanced_accuracy", True),
               ("MULTIVI + kNN", "seconds_per_epoch_per_1000_cells", False),
               ("MULTIVI + kNN", "ece", False)]  # fmt: skip
    return [compare(rows, OURS, peer, metric, higher) for peer, metric, higher in wanted
            if OURS in rows and peer in rows]  # fmt: skip


def _command(args) -> str:
    return recorded_command("multiome.py", args, "epochs", "query_epochs", "seeds", "threads",
                            "only", "attribution_only", "quick")  # fmt: skip


def _page(payload: dict) -> str:
    lines = [
        f"# RNA + ATAC label transfer — 10x Multiome BMMC ({payload['data']['cells']} cells)",
        "",
        "Luecken et al. 2021: reference sites 1–3, query site 4 (labels hidden); seeds "
        f"{payload['seeds']}, mean ± sd; {payload['environment']['cpu_threads']} CPU threads; "
        "each (method, seed) in its own process. Command: "
        f"`{payload['command']}`",
        "",
        *rows_table(payload["rows"], METRICS, DIGITS),
        "",
        "Comparisons with ours RNA+ATAC (a lead only beyond 2 sd of the difference):",
        "",
        *comparisons_table(payload["comparisons"]),
    ]
    if "attribution" in payload:
        lines += ["", f"Command of the attribution checks: `{payload['attribution_command']}`",
                  "", *markdown(payload["attribution"])]  # fmt: skip
    return "\n".join(lines)


def _attribution_only(args) -> None:
    """Re-run the attribution checks (seed 0 of ours RNA + ATAC); keep the other results."""
    import json

    payload = json.loads((args.results_dir / "multiome.json").read_text())
    command = _command(args)  # as typed: the run below narrows the rows and seeds itself
    (method,) = [m for m in _methods(args) if m.name == OURS]
    args.only, args.seeds = [OURS], [0]
    (row,) = run_methods([method], args).values()
    payload["attribution"] = row["per_seed"]["0"]["attribution"]
    payload["attribution_command"] = command
    write_results("multiome", payload, _page(payload), args.results_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--query-epochs", type=int, default=10)
    parser.add_argument(
        "--attribution-only",
        action="store_true",
        help="re-run only the attribution checks into the existing results",
    )
    add_common_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.query_epochs = 2, 1
    if args.attribution_only:
        _attribution_only(args)
        return
    rows = run_methods(_methods(args), args)
    attribution = None
    for row in rows.values():
        for result in row["per_seed"].values():
            attribution = result.pop("attribution", attribution)
            if "seconds_per_epoch" in result:
                result["seconds_per_epoch_per_1000_cells"] = (
                    1000 * result["seconds_per_epoch"] / result["training_cells"]
                )
        row["summary"] = summarise(row["per_seed"])
    mdata, _ = _data(args.quick)
    payload = {
        "benchmark": "multiome",
        "command": _command(args),
        "seeds": args.seeds,
        "quick": args.quick,
        "environment": environment() | {"cpu_threads": args.threads},
        "data": {
            "set": "10x Multiome BMMC (Luecken et al. 2021)",
            "cells": mdata.n_obs,
            "genes": mdata["rna"].n_vars,
            "peaks": mdata["atac"].n_vars,
            "reference": list(REFERENCE_SITES),
            "query": QUERY_SITE,
        },
        "rows": rows,
        "comparisons": _comparisons(rows),
    }
    if attribution:
        payload["attribution"], payload["attribution_command"] = attribution, payload["command"]
    write_results("multiome", payload, _page(payload), args.results_dir)


if __name__ == "__main__":
    main()
