"""Checks run on user input before any state changes (before fields are registered)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from scvi_interpret.errors import FeatureMismatchError, InvalidDataError, UnknownNameError

from ._count_statistics import check_count_values, iter_row_chunks


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
                raise UnknownNameError(
                    f"{argument}={column!r} is not a column of adata.obs. "
                    f"Available columns: {list(adata.obs.columns)}."
                )
            if argument == "continuous_covariate_keys":
                continue  # numbers: checked by check_continuous_covariates
            n_missing = int(adata.obs[column].isna().sum())
            if n_missing:
                what = "the unlabelled category" if argument == "labels_key" else "a category"
                raise InvalidDataError(
                    f"adata.obs[{column!r}] ({argument}) has {n_missing} missing values. "
                    f"Fill them with {what} before setup, e.g. `adata.obs[{column!r}] = "
                    f"adata.obs[{column!r}].astype(object).fillna('Unknown')`."
                )


def get_matrix(adata: AnnData, layer: str | None):
    """Return ``adata.layers[layer]`` (or ``.X``), raising a clear error if it is absent."""
    if layer is None:
        if adata.X is None:
            raise InvalidDataError(
                "adata.X is empty. Pass the layer that holds the counts: layer=..."
            )
        return adata.X
    if layer not in adata.layers:
        raise UnknownNameError(
            f"layer={layer!r} is not in adata.layers (available: {list(adata.layers)}). "
            "Pass an existing layer, or layer=None to use adata.X."
        )
    return adata.layers[layer]


def _stored_values(matrix) -> Iterable[np.ndarray]:
    """The stored values of a matrix in blocks (all at once for an in-memory sparse one)."""
    if sparse.issparse(matrix):
        yield np.asarray(matrix.data)
        return
    for block in iter_row_chunks(matrix):
        yield np.asarray(block.data) if sparse.issparse(block) else block


def row_totals(matrix) -> np.ndarray:
    """Total count of each row of a dense, sparse or backed matrix, shape (n_cells,)."""
    if sparse.issparse(matrix) or isinstance(matrix, np.ndarray):
        return np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()
    parts = [np.asarray(b.sum(axis=1), dtype=np.float64).ravel() for b in iter_row_chunks(matrix)]
    return np.concatenate(parts) if parts else np.zeros(0)


def check_no_empty_cells(matrix, where: str) -> None:
    """Raise if a cell has no counts at all (its library size would be zero).

    Parameters
    ----------
    matrix
        Dense array, sparse matrix or backed matrix of shape (n_cells, n_features).
    where
        How to name the matrix in the error.
    """
    n_empty = int((row_totals(matrix) <= 0).sum())
    if n_empty:
        raise InvalidDataError(
            f"{n_empty} cell(s) have no counts in {where} (e.g. after selecting highly variable "
            "genes). Remove them first: `sc.pp.filter_cells(adata, min_counts=1)`."
        )


def check_same_features(query_names, reference_names, model_name: str) -> None:
    """Raise unless the query has exactly the reference's features, in the same order.

    Kept beside scvi-tools' ``_validate_var_names``, which only warns: a model reads features
    by position, so other or reordered features give silently wrong latents.

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
    raise FeatureMismatchError(
        f"The query's features differ from the reference's: {detail}. Call "
        f"`query = {model_name}.prepare_query_anndata(query, reference_model)` first; it "
        "reorders the features and fills missing ones with zeros (in a new AnnData)."
    )


def check_counts(matrix, where: str) -> None:
    """Raise unless ``matrix`` holds finite, non-negative integer counts.

    Kept beside the check of scvi-tools' ``LayerField(is_count_data=True)``, which looks at a
    sample of rows and only warns; this reads every stored value (in row blocks) and raises
    before anything is registered.

    Parameters
    ----------
    matrix
        Dense array, sparse matrix or backed (on-disk) matrix of shape (n_cells, n_features);
        a backed one is read in blocks of rows.
    where
        How to name the matrix in the error, e.g. ``"adata.layers['counts']"``.
    """
    for values in _stored_values(matrix):
        check_count_values(values, where)


ALIGN_FIX = (
    "Align them first: `mdata = MultimodalClassifier.align_mudata(mdata)` gives every modality "
    "every cell (zeros where a cell was not measured) in the MuData's order."
)


def check_aligned(mdata, key: str, fix: str = ALIGN_FIX) -> None:
    """Raise unless modality ``key`` has the MuData's cells, in the MuData's order."""
    modality = mdata.mod[key]
    if not modality.obs_names.equals(mdata.obs_names):
        raise InvalidDataError(
            f"The cells of modality {key!r} ({modality.n_obs}) are not the MuData's cells "
            f"({mdata.n_obs}) in the same order. {fix}"
        )
