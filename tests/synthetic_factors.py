"""Counts whose cell groups differ by planted gene sets, abundant and rare genes mixed.

The ground truth for reading LinearVI's loadings: group ``a`` raises the abundant genes of
``PLANTED["a"]`` four-fold, group ``b`` those of ``PLANTED["b"]``; on top, every rare gene
(a hundredth of an abundant gene's expression) rises twenty-fold in one of the two groups.
A rare gene's log change (log 20) is larger than a planted gene's (log 4), but its change
in expression is a fifth of one: what a marker test finds are the planted sets.
"""

from __future__ import annotations

import anndata as ad
import numpy as np

from synthetic_counts import negative_binomial_counts

N_ABUNDANT, N_RARE = 60, 60
PLANTED = {"a": range(0, 12), "b": range(12, 24)}
RARE = range(N_ABUNDANT, N_ABUNDANT + N_RARE)


def simulate_factors(n_per_group: int = 300, seed: int = 0) -> ad.AnnData:
    """Groups ``a``, ``b`` and ``none`` (no change); counts in ``.X`` and ``layers["counts"]``."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(["a", "b", "none"], n_per_group)
    base = np.concatenate([rng.gamma(4.0, 1.0, N_ABUNDANT), rng.gamma(4.0, 0.01, N_RARE)])
    log_change = np.zeros((len(labels), len(base)))
    for group, genes in PLANTED.items():
        log_change[np.ix_(labels == group, list(genes))] = np.log(4.0)
    rare_group = rng.choice(["a", "b"], N_RARE)
    for group in ("a", "b"):
        genes = np.asarray(RARE)[rare_group == group]
        log_change[np.ix_(labels == group, genes)] = np.log(20.0)
    return negative_binomial_counts(base * np.exp(log_change), labels, rng, 2000, theta=10.0)


def simulate_groups(
    n_groups: int = 5, genes_per_group: int = 10, n_genes: int = 100, n_per_group: int = 150,
    seed: int = 0,
) -> ad.AnnData:  # fmt: skip
    """Groups ``"0"``… each raising its own ``genes_per_group`` genes four-fold, and ``"none"``.

    Group ``k``'s genes are ``k * genes_per_group`` to ``(k + 1) * genes_per_group - 1``; the
    other genes never change, and the ``"none"`` cells change nothing. One factor per group
    is the simple structure to recover.
    """
    rng = np.random.default_rng(seed)
    labels = np.repeat([str(k) for k in range(n_groups)] + ["none"], n_per_group)
    base = rng.gamma(2.0, 1.0, n_genes)
    log_change = np.zeros((len(labels), n_genes))
    for k in range(n_groups):
        genes = range(k * genes_per_group, (k + 1) * genes_per_group)
        log_change[np.ix_(labels == str(k), list(genes))] = np.log(4.0)
    return negative_binomial_counts(base * np.exp(log_change), labels, rng, 1500, theta=20.0)


def planted_recovery(
    latent: np.ndarray, loadings: np.ndarray, groups: np.ndarray, n_groups: int,
    genes_per_group: int,
) -> list[tuple[int, float, int]]:  # fmt: skip
    """Per group of :func:`simulate_groups`: its best factor, that factor's AUROC and the
    group's planted genes among that factor's top ``genes_per_group`` loadings.

    ``latent`` is (n_cells, n_factors), ``loadings`` (n_genes, n_factors), ``groups`` the
    cells' group labels.
    """
    from sklearn.metrics import roc_auc_score

    result = []
    for k in range(n_groups):
        is_group = groups == str(k)
        aurocs = np.array([roc_auc_score(is_group, factor) for factor in latent.T])
        best = int(np.argmax(np.abs(aurocs - 0.5)))
        column = loadings[:, best] * (1 if aurocs[best] > 0.5 else -1)
        top = set(np.argsort(-column)[:genes_per_group].tolist())
        genes = set(range(k * genes_per_group, (k + 1) * genes_per_group))
        result.append((best, max(aurocs[best], 1 - aurocs[best]), len(top & genes)))
    return result
