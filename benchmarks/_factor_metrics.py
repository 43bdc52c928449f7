"""What a linear decoder's factors say about cell types: markers derived from the data.

Markers are not hand-picked: for each annotated cell type, its top ``n_markers`` genes by
scanpy's Wilcoxon ``rank_genes_groups`` (one type vs the rest, log-normalised counts). For
each type, the factor most associated with it is the one whose latent mean best separates the
type from the rest (AUROC, either direction); the type's markers are then looked for among
that factor's top-``k`` loadings on the side that goes up with the type (the largest loadings
when the factor is higher in the type, the most negative when lower).

- ``marker_recall_at_{k}``: mean over types of the share of the type's markers found there;
- ``specificity_auroc``: mean over types of the best factor's AUROC (folded to ≥ 0.5).

AUROCs come from the Mann–Whitney rank sum, every factor at once (ties at mid-rank): the same
values as scikit-learn's ``roc_auc_score`` one factor at a time, whose per-call input checks
took most of a smoke run's time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata


def data_markers(adata, labels_key: str, n_markers: int = 10, layer: str = "counts") -> dict:
    """Top Wilcoxon genes of each cell type (type vs rest) on log-normalised counts."""
    import scanpy as sc

    work = sc.AnnData(adata.layers[layer].copy(), obs=adata.obs[[labels_key]].copy())
    work.var_names = adata.var_names
    sc.pp.normalize_total(work, target_sum=1e4)
    sc.pp.log1p(work)
    counts = work.obs[labels_key].value_counts()
    groups = [str(g) for g in counts.index[counts >= 10]]
    sc.tl.rank_genes_groups(work, labels_key, groups=groups, method="wilcoxon")
    names = pd.DataFrame(work.uns["rank_genes_groups"]["names"])
    return {group: list(names[group][:n_markers]) for group in groups}


def factor_metrics(
    latent: np.ndarray, loadings: pd.DataFrame, labels: np.ndarray, markers: dict,
    ks: tuple[int, ...] = (10, 20, 50),
) -> dict:  # fmt: skip
    """Marker recall at each k and specificity, for latent (cells × factors) and loadings.

    ``loadings`` is genes × factors, columns in the order of ``latent``'s columns.
    """
    labels = np.asarray(labels).astype(str)
    recalls = {k: [] for k in ks}
    specificity = []
    ranks = rankdata(latent, axis=0)  # (n_cells, n_factors), ties at mid-rank
    for cell_type, genes in markers.items():
        is_type = labels == cell_type
        aurocs = factor_aurocs(ranks, is_type)
        best = int(np.argmax(np.abs(aurocs - 0.5)))
        specificity.append(max(aurocs[best], 1 - aurocs[best]))
        column = loadings.iloc[:, best]
        ordered = column.sort_values(ascending=aurocs[best] < 0.5).index
        for k in ks:
            recalls[k].append(len(set(genes) & set(ordered[:k])) / len(genes))
    result = {f"marker_recall_at_{k}": float(np.mean(v)) for k, v in recalls.items()}
    result["specificity_auroc"] = float(np.mean(specificity))
    return result


def factor_aurocs(ranks: np.ndarray, is_type: np.ndarray) -> np.ndarray:
    """AUROC of each factor for ``is_type`` vs the rest, from the factors' ranks over cells.

    ``ranks``: (n_cells, n_factors), mid-ranks of each column; ``is_type``: (n_cells,) bool.
    Returns shape (n_factors,): (rank sum of the type − n_type (n_type + 1) / 2) / (n_type ·
    n_rest), the Mann–Whitney U over its largest value.
    """
    n_type = int(is_type.sum())
    n_rest = len(is_type) - n_type
    rank_sum = ranks[is_type].sum(axis=0)
    return (rank_sum - n_type * (n_type + 1) / 2) / (n_type * n_rest)
