"""Negative binomial counts around given expression shares: the sampler of the synthetic sets."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd


def negative_binomial_counts(
    share: np.ndarray, labels: np.ndarray, rng: np.random.Generator, library: float, theta: float
) -> ad.AnnData:
    """Counts with mean ``share`` (rows normalised) × a log-normal library (median ``library``).

    Parameters
    ----------
    share
        Expression shares, shape (n_cells, n_genes); each row is normalised to sum to one.
    labels
        Group of each cell, shape (n_cells,), written to ``obs["group"]``.
    rng
        Random generator (drawn from: the libraries, then the gamma-Poisson counts).
    library
        Median total counts per cell.
    theta
        Negative binomial inverse dispersion.

    Returns
    -------
    AnnData with the counts in ``.X`` and ``layers["counts"]``, genes ``g0…``, cells ``c0…``.
    """
    share = share / share.sum(1, keepdims=True)
    libraries = rng.lognormal(np.log(library), 0.3, size=(len(labels), 1))
    mu = share * libraries
    counts = rng.poisson(rng.gamma(theta, mu / theta)).astype(np.float32)
    adata = ad.AnnData(counts)
    adata.var_names = [f"g{i}" for i in range(share.shape[1])]
    adata.obs_names = [f"c{i}" for i in range(len(labels))]
    adata.obs["group"] = pd.Categorical(labels)
    adata.layers["counts"] = adata.X.copy()
    return adata
