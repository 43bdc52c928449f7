"""Start values of LinearVI's loadings: the principal axes of the log-normalised counts."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from scipy import sparse
from sklearn.decomposition import PCA

PCA_START_SCALE = 0.3  # the start is this fraction of the axes' sd (screened: 0.3, 1)


def log_normalised_block(counts: torch.Tensor | np.ndarray) -> sparse.csr_matrix:
    """``log1p`` of counts per 10,000 of one block of cells, kept sparse.

    Parameters
    ----------
    counts
        Counts, shape (n_cells, n_genes).

    Returns
    -------
    CSR matrix of shape (n_cells, n_genes); cells without counts stay all zero.
    """
    values = counts.detach().cpu().numpy() if isinstance(counts, torch.Tensor) else counts
    block = sparse.csr_matrix(np.asarray(values, dtype=np.float64))
    totals = np.asarray(block.sum(axis=1)).ravel()
    scale = np.divide(1e4, totals, out=np.zeros_like(totals), where=totals > 0)
    block = sparse.diags(scale) @ block
    block.data = np.log1p(block.data)
    return sparse.csr_matrix(block)


def pca_start_loadings(
    blocks: Iterable[torch.Tensor | np.ndarray], n_latent: int, scale: float = PCA_START_SCALE
) -> np.ndarray:
    """Loadings that start on the top principal axes of the log-normalised counts.

    Column ``k`` is the ``k``-th principal axis times ``scale`` times its standard deviation
    over the cells: with factors drawn from the prior N(0, I), ``W z`` then varies along the
    axes the data vary along, at a fraction ``scale`` of their spread. PCA centres the
    sparse matrix implicitly (scikit-learn's ARPACK solver), so memory is that of the
    sample's non-zero counts plus ``n_genes × n_latent``.

    Parameters
    ----------
    blocks
        Count blocks of the sampled cells, each of shape (n_cells_in_block, n_genes).
    n_latent
        Number of factors (columns).
    scale
        Fraction of each axis' standard deviation.

    Returns
    -------
    Array of shape (n_genes, n_latent). Where the sample has at most ``n_latent`` cells or
    genes, the columns beyond the ``min(n_cells, n_genes) - 1`` axes its PCA gives are
    ``NaN`` (they keep their random start).
    """
    matrix = sparse.vstack([log_normalised_block(block) for block in blocks], format="csr")
    n_cells, n_genes = matrix.shape
    n_axes = max(0, min(n_latent, min(n_cells, n_genes) - 1))
    start = np.full((n_genes, n_latent), np.nan)
    if n_axes == 0:
        return start
    pca = PCA(n_components=n_axes, svd_solver="arpack", random_state=0).fit(matrix)
    start[:, :n_axes] = pca.components_.T * (scale * np.sqrt(pca.explained_variance_))
    return start
