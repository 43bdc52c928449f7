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
import pandas as pd

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
    share = base * np.exp(log_change)
    share /= share.sum(1, keepdims=True)
    library = rng.lognormal(np.log(2000), 0.3, size=(len(labels), 1))
    mu = share * library
    theta = 10.0
    counts = rng.poisson(rng.gamma(theta, mu / theta)).astype(np.float32)
    adata = ad.AnnData(counts)
    adata.var_names = [f"g{i}" for i in range(len(base))]
    adata.obs_names = [f"c{i}" for i in range(len(labels))]
    adata.obs["group"] = pd.Categorical(labels)
    adata.layers["counts"] = adata.X.copy()
    return adata
