"""Start values computed from the data before training."""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse


def gene_log_frequencies(counts, pseudo_share: float = 1e-8) -> torch.Tensor:
    """Log of each gene's mean share of a cell's counts.

    Parameters
    ----------
    counts
        Dense array or sparse matrix of shape (n_cells, n_genes).
    pseudo_share
        Added to each share before the log, so that genes never observed get a finite value.

    Returns
    -------
    Tensor of shape (n_genes,), float32.
    """
    totals = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    inverse = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
    if sparse.issparse(counts):
        shares = sparse.diags(inverse) @ counts
        mean_share = np.asarray(shares.mean(axis=0)).ravel()
    else:
        mean_share = (np.asarray(counts) * inverse[:, None]).mean(axis=0)
    return torch.as_tensor(np.log(mean_share + pseudo_share), dtype=torch.float32)
