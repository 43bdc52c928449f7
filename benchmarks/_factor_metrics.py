"""What a linear decoder's factors say about cell types: markers derived from the data.

Markers are not hand-picked: for each annotated cell type, its top ``n_markers`` genes by
scanpy's Wilcoxon ``rank_genes_groups`` (one type vs the rest, log-normalised counts). For
each type, the factor most associated with it is the one whose latent mean best separates the
type from the rest (AUROC, either direction); the type's markers are then looked for among
that factor's top-``k`` loadings on the side that goes up with the type (the largest loadings
when the factor is higher in the type, the most negative when lower).

- ``marker_recall_at_{k}``: mean over types of the share of the type's markers found there;
- ``specificity_auroc``: mean over types of the best factor's AUROC (folded to ≥ 0.5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score


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
    for cell_type, genes in markers.items():
        is_type = labels == cell_type
        aurocs = np.array([roc_auc_score(is_type, latent[:, j]) for j in range(latent.shape[1])])
        best = int(np.argmax(np.abs(aurocs - 0.5)))
        specificity.append(max(aurocs[best], 1 - aurocs[best]))
        column = loadings.iloc[:, best]
        ordered = column.sort_values(ascending=aurocs[best] < 0.5).index
        for k in ks:
            recalls[k].append(len(set(genes) & set(ordered[:k])) / len(genes))
    result = {f"marker_recall_at_{k}": float(np.mean(v)) for k, v in recalls.items()}
    result["specificity_auroc"] = float(np.mean(specificity))
    return result
