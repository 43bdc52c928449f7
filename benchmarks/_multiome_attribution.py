"""Real-data checks of RNA + ATAC feature importance (used by ``multiome.py``).

Per class (each cell explains its predicted class, all cells, both modalities): do the class's
top peaks open in that class? A single binary peak separates a class only weakly (a peak
open in 30 % of the class and 5 % of the rest has AUROC 0.625), so each check is reported two
ways, next to 20 random peaks and next to the 20 peaks the data themselves rank best (the
largest in-class minus out-of-class open fraction, on the same cells: the ceiling):

- per peak: the median over the 20 peaks of the class-vs-rest AUROC of the binary peak;
- as a set: the class-vs-rest AUROC of each cell's share of its open peaks that are among
  the 20 (depth-normalised, so that a cell with many fragments does not score high on any
  set).

"Top peaks" are those whose *opening* pushes toward the class (``direction == "high"``),
ranked by mean |SHAP|. Cross-modal: ``target="rna:<gene>"`` explained by the peaks alone; the
gene's top peaks are scored as a set against the cells that express it (count > 0).
"""

from __future__ import annotations

import time

import numpy as np
from scipy import sparse
from sklearn.metrics import roc_auc_score

N_TOP = 20
MARKERS = {  # known markers of cell types in this set (any one in the top 20 counts)
    "CD14+ Mono": ["CD14", "LYZ", "S100A8", "S100A9", "VCAN", "FCN1"],
    "Naive CD20+ B": ["MS4A1", "CD79A", "BANK1", "PAX5"],
    "NK": ["NKG7", "GNLY", "KLRD1", "PRF1"],
    "Erythroblast": ["HBB", "HBA1", "HBA2", "HBM", "GYPA"],
    "pDC": ["LILRA4", "IL3RA", "TCF4", "IRF8"],
}
CROSS_MODAL_GENES = ["GNLY", "MS4A1", "HBA1", "VCAN", "TCF4", "IL7R"]


def top_opening_peaks(table, peak_names: np.ndarray, n: int = N_TOP) -> np.ndarray:
    """Positions of the ``n`` peaks with the largest mean |SHAP| among those with direction high.

    ``table``: one target's rows of the importance table, shape (n_features, columns).
    """
    peaks = table[table["modality"] == "atac"].set_index("feature").loc[peak_names]
    score = np.where(peaks["direction"].to_numpy() == "high",
                     peaks["mean_abs_shap"].to_numpy(), -np.inf)  # fmt: skip
    return np.argsort(-score, kind="stable")[:n]


def peak_aurocs(accessible: sparse.csc_matrix, depth: np.ndarray, peaks: np.ndarray,
                group: np.ndarray) -> tuple[float, float]:  # fmt: skip
    """(median per-peak AUROC, set AUROC) of ``peaks`` for ``group`` vs the rest.

    ``accessible``: binary cells × peaks; ``depth``: open peaks per cell, shape (n_cells,);
    ``group``: boolean, shape (n_cells,).
    """
    columns = np.asarray(accessible[:, peaks].todense())
    per_peak = [roc_auc_score(group, columns[:, j]) for j in range(columns.shape[1])]
    share = columns.sum(1) / np.maximum(depth, 1)
    return float(np.median(per_peak)), float(roc_auc_score(group, share))


def _scores(accessible, depth, peaks, group, rng) -> dict:
    """Per-peak and set AUROC of the top, 20 random and the 20 best-separating peaks."""
    inside = np.asarray(accessible[group].mean(0)).ravel()
    outside = np.asarray(accessible[~group].mean(0)).ravel()
    chosen = {
        "top": peaks,
        "random": rng.choice(accessible.shape[1], N_TOP, replace=False),
        "best": np.argsort(-(inside - outside), kind="stable")[:N_TOP],
    }
    result = {}
    for name, positions in chosen.items():
        result[f"{name}_peak_auroc"], result[f"{name}_set_auroc"] = peak_aurocs(
            accessible, depth, positions, group
        )
    return result


def attribution_checks(model, mdata, everything, seed: int) -> dict:
    """Importance over all cells; peak and RNA-marker checks per class; cross-modal targets.

    ``model``: a MultimodalClassifier that knows every cell's batch; ``mdata``: the labelled
    cells; ``everything``: the same cells prepared for ``model`` (labels hidden).
    """
    start = time.perf_counter()
    importance = model.get_feature_importance(everything)
    seconds = time.perf_counter() - start
    atac = mdata.mod["atac"]
    accessible = sparse.csc_matrix(atac.X)
    depth = np.asarray(accessible.sum(1)).ravel()
    peak_names = np.asarray(atac.var_names)
    labels = mdata.obs["cell_type"].astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    classes = []
    for target, table in importance.groupby("target", observed=True):
        group = labels == target
        if group.sum() < 10:
            continue
        genes = table[table["modality"] == "rna"].nsmallest(N_TOP, "rank")
        row = {"target": target, "cells": int(group.sum())}
        row |= _scores(accessible, depth, top_opening_peaks(table, peak_names), group, rng)
        arrows = genes["direction"].map({"high": "↑", "low": "↓", "none": "·"})
        row["top_rna"] = (genes["feature"] + arrows).tolist()[:8]
        if target in MARKERS:
            row["markers_in_top"] = [g for g in genes["feature"] if g in MARKERS[target]]
        classes.append(row)
    cross_modal, start = [], time.perf_counter()
    for gene in CROSS_MODAL_GENES:
        table = model.get_feature_importance(everything, target=f"rna:{gene}",
                                             modalities="atac")  # fmt: skip
        expressing = np.asarray(mdata.mod["rna"][:, gene].X.todense()).ravel() > 0
        row = {"target": f"rna:{gene}", "expressing_cells": int(expressing.sum())}
        peaks = top_opening_peaks(table, peak_names)
        row |= _scores(accessible, depth, peaks, expressing, rng)
        row["top_peaks"] = peak_names[peaks[:5]].tolist()
        cross_modal.append(row)
    cross_seconds = (time.perf_counter() - start) / len(CROSS_MODAL_GENES)

    def median(rows, key):
        return float(np.median([r[key] for r in rows]))

    keys = [f"{k}_{s}_auroc" for k in ("top", "random", "best") for s in ("peak", "set")]
    return {
        "seconds_all_cells": seconds,
        "cells": int(everything.n_obs),
        "median": {key: median(classes, key) for key in keys},
        "classes": classes,
        "cross_modal_seconds_per_gene": cross_seconds,
        "cross_modal_median": {key: median(cross_modal, key) for key in keys},
        "cross_modal": cross_modal,
    }


def markdown(attribution: dict) -> list[str]:
    """The attribution section of the results page."""
    med, cross = attribution["median"], attribution["cross_modal_median"]
    lines = [
        f"Feature importance of ours (RNA + ATAC, seed 0) over all {attribution['cells']} "
        f"cells, both modalities, each cell's predicted class: "
        f"{attribution['seconds_all_cells']:.1f} s. Each class's top {N_TOP} peaks (opening "
        f"pushes toward the class, by mean |SHAP|), class-vs-rest AUROC, median over classes: "
        f"per peak {med['top_peak_auroc']:.3f} (random {med['random_peak_auroc']:.3f}; the "
        f"{N_TOP} peaks the data rank best: {med['best_peak_auroc']:.3f}); as a depth-"
        f"normalised set {med['top_set_auroc']:.3f} (random {med['random_set_auroc']:.3f}; "
        f"best {med['best_set_auroc']:.3f}).",
        "",
        "| class | cells | top-20 peaks: per peak / set | random | best 20 | known markers "
        "in top 20 RNA | top RNA features (↑ high pushes toward the class, ↓ low) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in attribution["classes"]:
        markers = ", ".join(row.get("markers_in_top", [])) or (
            "none" if "markers_in_top" in row else "–"
        )
        lines.append(
            f"| {row['target']} | {row['cells']} | {row['top_peak_auroc']:.3f} / "
            f"{row['top_set_auroc']:.3f} | {row['random_peak_auroc']:.3f} / "
            f"{row['random_set_auroc']:.3f} | {row['best_peak_auroc']:.3f} / "
            f"{row['best_set_auroc']:.3f} | {markers} | {', '.join(row['top_rna'])} |"
        )
    lines += [
        "",
        f"Cross-modal targets `rna:<gene>` explained by the peaks alone (all cells, "
        f"{attribution['cross_modal_seconds_per_gene']:.1f} s per gene): the top {N_TOP} peaks "
        f"scored against the cells that express the gene, median over genes: per peak "
        f"{cross['top_peak_auroc']:.3f} / set {cross['top_set_auroc']:.3f} (random "
        f"{cross['random_peak_auroc']:.3f} / {cross['random_set_auroc']:.3f}; best "
        f"{cross['best_peak_auroc']:.3f} / {cross['best_set_auroc']:.3f}).",
        "",
        "| target | expressing cells | top-20 peaks: per peak / set | random | best 20 "
        "| top peaks |",
        "|---|---|---|---|---|---|",
    ]
    for row in attribution["cross_modal"]:
        lines.append(
            f"| {row['target']} | {row['expressing_cells']} | {row['top_peak_auroc']:.3f} / "
            f"{row['top_set_auroc']:.3f} | {row['random_peak_auroc']:.3f} / "
            f"{row['random_set_auroc']:.3f} | {row['best_peak_auroc']:.3f} / "
            f"{row['best_set_auroc']:.3f} | {', '.join(row['top_peaks'])} |"
        )
    return lines
