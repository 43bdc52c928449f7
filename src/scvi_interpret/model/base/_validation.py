"""Checks run on user input before any state changes (before fields are registered)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

_ROWS_PER_CHUNK = 4096


def check_obs_keys(adata: AnnData, keys: dict[str, str | Iterable[str] | None]) -> None:
    """Raise if an ``.obs`` column named by a setup argument is absent or has missing values.

    Parameters
    ----------
    adata
        The data being set up.
    keys
        Setup argument name -> column name(s), e.g. ``{"batch_key": "batch"}``.
    """
    for argument, columns in keys.items():
        if columns is None:
            continue
        for column in [columns] if isinstance(columns, str) else list(columns):
            if column not in adata.obs:
                raise KeyError(
                    f"{argument}={column!r} is not a column of adata.obs. "
                    f"Available columns: {list(adata.obs.columns)}."
                )
            n_missing = int(adata.obs[column].isna().sum())
            if argument != "labels_key" and n_missing:
                raise ValueError(
                    f"adata.obs[{column!r}] ({argument}) has {n_missing} missing values. "
                    "Fill them (e.g. with 'unknown') before setup."
                )


def get_matrix(adata: AnnData, layer: str | None):
    """Return ``adata.layers[layer]`` (or ``.X``), raising a clear error if it is absent."""
    if layer is None:
        if adata.X is None:
            raise ValueError("adata.X is empty. Pass the layer that holds the counts: layer=...")
        return adata.X
    if layer not in adata.layers:
        raise KeyError(
            f"layer={layer!r} is not in adata.layers (available: {list(adata.layers)}). "
            "Pass an existing layer, or layer=None to use adata.X."
        )
    return adata.layers[layer]


def _chunks(matrix) -> Iterable[np.ndarray]:
    if sparse.issparse(matrix):
        yield np.asarray(matrix.data)
        return
    for start in range(0, matrix.shape[0], _ROWS_PER_CHUNK):
        yield np.asarray(matrix[start : start + _ROWS_PER_CHUNK])


def check_no_empty_cells(matrix, where: str) -> None:
    """Raise if a cell has no counts at all (its library size would be zero).

    Parameters
    ----------
    matrix
        Dense array or sparse matrix of shape (n_cells, n_features).
    where
        How to name the matrix in the error.
    """
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    n_empty = int((totals <= 0).sum())
    if n_empty:
        raise ValueError(
            f"{n_empty} cell(s) have no counts in {where} (e.g. after selecting highly variable "
            "genes). Remove them first: `sc.pp.filter_cells(adata, min_counts=1)`."
        )


def check_same_features(query_names, reference_names, model_name: str) -> None:
    """Raise unless the query has exactly the reference's features, in the same order.

    Parameters
    ----------
    query_names
        ``var_names`` of the query.
    reference_names
        ``var_names`` the reference model was trained on.
    model_name
        Class name, for the suggested fix.
    """
    query, reference = pd.Index(query_names), pd.Index(reference_names)
    if query.equals(reference):
        return
    missing = reference.difference(query)
    extra = query.difference(reference)
    detail = (
        f"{len(missing)} reference feature(s) are missing from the query "
        f"(e.g. {missing[:3].tolist()}), {len(extra)} query feature(s) are not in the reference"
        if len(missing) or len(extra)
        else "the same features are in another order"
    )
    raise ValueError(
        f"The query's features differ from the reference's: {detail}. Call "
        f"`{model_name}.prepare_query_anndata(query, reference_model)` first; it reorders the "
        "features and fills missing ones with zeros."
    )


def check_counts(matrix, where: str) -> None:
    """Raise unless ``matrix`` holds finite, non-negative integer counts.

    Parameters
    ----------
    matrix
        Dense array or sparse matrix of shape (n_cells, n_features).
    where
        How to name the matrix in the error, e.g. ``"adata.layers['counts']"``.
    """
    for values in _chunks(matrix):
        if values.size == 0:
            continue
        if not np.all(np.isfinite(values)):
            raise ValueError(
                f"{where} contains NaN or infinite values. Remove or impute them before setup."
            )
        if values.min() < 0:
            raise ValueError(
                f"{where} contains negative values (min {values.min():g}). A count likelihood "
                "needs raw counts: pass the layer with raw counts, not scaled or centred data."
            )
        if not np.array_equal(values, np.round(values)):
            raise ValueError(
                f"{where} contains non-integer values, but the model's likelihood (negative "
                "binomial / Poisson) needs raw integer counts. Pass the layer that holds raw "
                "counts (e.g. layer='counts'), not normalised or log-transformed data."
            )
