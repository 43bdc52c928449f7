"""One streamed pass over a count matrix: input checks and the start values models need.

The same code serves an in-memory matrix, a backed (on-disk) AnnData matrix and a
TileDB-SOMA store read in chunks, so memory stays bounded by one chunk of rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from scipy import sparse

from scvi_interpret.errors import InvalidDataError

ROWS_PER_CHUNK = 4096
# key of the count statistics a data module stores in a registry (per counts field)
STATISTICS_KEY = "scvi_interpret_statistics"


def iter_row_chunks(matrix, rows: int = ROWS_PER_CHUNK) -> Iterator[np.ndarray | sparse.spmatrix]:
    """Consecutive blocks of rows of a dense, sparse or on-disk (backed) matrix.

    Parameters
    ----------
    matrix
        Array, scipy sparse matrix, h5py dataset or anndata's backed sparse dataset of shape
        (n_cells, n_features).
    rows
        Rows per block.

    Yields
    ------
    Blocks of shape (≤ rows, n_features): scipy CSR for sparse input, else a dense array.
    """
    for start in range(0, matrix.shape[0], rows):
        block = matrix[start : start + rows]
        yield sparse.csr_matrix(block) if sparse.issparse(block) else np.asarray(block)


def _stored_values(block) -> np.ndarray:
    return np.asarray(block.data) if sparse.issparse(block) else np.asarray(block)


class CountStatistics:
    """Accumulates, block by block, what the count checks and the start values need.

    Parameters
    ----------
    n_features
        Columns of the matrix.
    where
        How to name the matrix in errors, e.g. ``"adata.layers['counts']"``.

    Attributes
    ----------
    n_cells
        Rows seen.
    total
        Sum of all counts.
    share_sum
        Per feature, the sum over cells of its share of the cell's counts, shape (n_features,).
    max_count
        Largest count seen (1 for binary data such as binarised ATAC).
    """

    def __init__(self, n_features: int, where: str):
        self.where = where
        self.n_cells = 0
        self.total = 0.0
        self.share_sum = np.zeros(n_features, dtype=np.float64)
        self.max_count = 0.0

    def add(self, block, check: bool = True) -> np.ndarray:
        """Check one block of rows and add it; returns its per-row totals, shape (n_rows,)."""
        if check:
            check_count_values(_stored_values(block), self.where)
        values = _stored_values(block)
        if values.size:
            self.max_count = max(self.max_count, float(values.max()))
        totals = np.asarray(block.sum(axis=1), dtype=np.float64).ravel()
        inverse = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
        if sparse.issparse(block):
            shares = sparse.diags(inverse) @ block
            self.share_sum += np.asarray(shares.sum(axis=0)).ravel()
        else:
            self.share_sum += (np.asarray(block, dtype=np.float64) * inverse[:, None]).sum(0)
        self.n_cells += len(totals)
        self.total += float(totals.sum())
        return totals

    def log_frequencies(self, pseudo_share: float = 1e-8) -> np.ndarray:
        """Log of each feature's mean share of a cell's counts, shape (n_features,)."""
        mean_share = self.share_sum / max(self.n_cells, 1)
        return np.log(mean_share + pseudo_share)

    def mean_count(self) -> float:
        """Mean count per cell and feature."""
        return self.total / max(self.n_cells * len(self.share_sum), 1)

    def summary(self) -> dict:
        """Plain-Python summary, stored in a model's registry.

        Keys ``log_frequencies`` (list, n_features), ``mean_count``, ``n_cells``,
        ``max_count``.
        """
        return {
            "log_frequencies": self.log_frequencies().astype(np.float32).tolist(),
            "mean_count": self.mean_count(),
            "n_cells": self.n_cells,
            "max_count": self.max_count,
        }


def check_count_values(values: np.ndarray, where: str) -> None:
    """Raise unless ``values`` are finite, non-negative integers (a count likelihood's input).

    Parameters
    ----------
    values
        Stored values of (part of) a count matrix, any shape.
    where
        How to name the matrix in the error.
    """
    if values.size == 0:
        return
    if not np.all(np.isfinite(values)):
        raise InvalidDataError(
            f"{where} contains NaN or infinite values; a count likelihood needs raw counts. "
            "Remove or impute them first."
        )
    if values.min() < 0:
        raise InvalidDataError(
            f"{where} contains negative values (min {values.min():g}). A count likelihood "
            "needs raw counts: pass the layer with raw counts, not scaled or centred data."
        )
    if not np.array_equal(values, np.round(values)):
        raise InvalidDataError(
            f"{where} contains non-integer values, but the model's likelihood (negative "
            "binomial / Poisson) needs raw integer counts. Pass the layer that holds raw "
            "counts (e.g. layer='counts'), not normalised or log-transformed data."
        )


def count_statistics(matrix, where: str = "counts", check: bool = False) -> CountStatistics:
    """Statistics of a dense, sparse or backed count matrix, read in blocks of rows.

    Parameters
    ----------
    matrix
        Matrix of shape (n_cells, n_features).
    where
        How to name the matrix in errors.
    check
        Check that the values are counts.
    """
    statistics = CountStatistics(matrix.shape[1], where)
    for block in iter_row_chunks(matrix):
        statistics.add(block, check)
    return statistics


def log_frequencies_tensor(statistics: dict | CountStatistics) -> torch.Tensor:
    """``log_frequencies`` of a summary (or statistics object) as a float32 tensor."""
    if isinstance(statistics, CountStatistics):
        return torch.as_tensor(statistics.log_frequencies(), dtype=torch.float32)
    return torch.as_tensor(statistics["log_frequencies"], dtype=torch.float32)
