"""Setup that is all or nothing: every check before registration, and no trace on failure."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

from scvi_interpret.errors import ArgumentTypeError, InvalidArgumentError, InvalidDataError


def check_key_lists(**arguments: Iterable[str] | str | None) -> None:
    """Raise if an argument that takes a list of ``obs`` columns got one string or repeats.

    scvi-tools would read ``"batch"`` as the columns ``"b"``, ``"a"``, … and fail deep in
    registration; a repeated column fails there too.
    """
    for name, value in arguments.items():
        if isinstance(value, str):
            raise ArgumentTypeError(
                f"{name}={value!r} is a string; it takes a list of obs columns: "
                f"{name}=[{value!r}]."
            )
        if value is not None:
            repeated = sorted({key for key in value if list(value).count(key) > 1})
            if repeated:
                raise InvalidArgumentError(
                    f"{name} names {repeated} more than once; name each column once."
                )


def check_has_cells(data, where: str = "adata") -> None:
    """Raise if ``data`` (AnnData or MuData) has no cells."""
    if data.n_obs == 0:
        raise InvalidDataError(f"{where} has no cells (n_obs = 0); select a non-empty subset.")


def check_continuous_covariates(obs: pd.DataFrame, keys: Iterable[str] | None) -> None:
    """Raise unless every continuous covariate column is numeric and finite.

    Parameters
    ----------
    obs
        ``adata.obs`` (or ``mdata.obs``), shape (n_cells, n_columns).
    keys
        The ``continuous_covariate_keys``.
    """
    for key in keys or []:
        if key not in obs:
            continue  # named by check_obs_keys
        column = obs[key]
        if not (pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)):
            raise InvalidDataError(
                f"Continuous covariate obs[{key!r}] is not numeric (dtype {column.dtype}); "
                "convert it (`pd.to_numeric`) or pass it as a categorical covariate."
            )
        n_bad = int((~np.isfinite(column.to_numpy(dtype=np.float64))).sum())
        if n_bad:
            raise InvalidDataError(
                f"Continuous covariate obs[{key!r}] has {n_bad} NaN or infinite value(s); "
                "fill or clip them before setup."
            )


def _holders(data) -> list:
    """The AnnData objects whose ``obs``/``obsm``/``uns`` setup may write: data and modalities."""
    return [data, *getattr(data, "mod", {}).values()]


@contextmanager
def unchanged_on_failure(data) -> Iterator[None]:
    """Undo what scvi-tools' field registration wrote if it fails part-way.

    Registration adds ``_scvi_*`` columns to ``obs``, arrays to ``obsm`` and keys to ``uns``
    (of a MuData and of its modalities); on an exception those are removed and the values
    they replaced restored, then the exception propagates.
    """
    saved = [
        (holder, holder.obs.copy(deep=False), dict(holder.obsm.items()), dict(holder.uns))
        for holder in _holders(data)
    ]
    try:
        yield
    except BaseException:
        for holder, obs, obsm, uns in saved:
            added = [c for c in holder.obs.columns if c not in obs.columns]
            if added:
                holder.obs.drop(columns=added, inplace=True)
            for column in obs.columns:
                if column.startswith("_scvi") and column in holder.obs:
                    holder.obs[column] = obs[column]
            for key in [k for k in holder.obsm if k not in obsm]:
                del holder.obsm[key]
            for key, value in obsm.items():
                if holder.obsm.get(key) is not value:
                    holder.obsm[key] = value
            holder.uns.clear()
            holder.uns.update(uns)
        raise


def check_is_anndata(adata, model_name: str) -> None:
    """Raise unless ``adata`` is an AnnData (a MuData names its modalities in the fix)."""
    from anndata import AnnData

    if hasattr(adata, "mod"):
        raise ArgumentTypeError(
            f"{model_name} reads one AnnData, but got a MuData with modalities "
            f"{list(adata.mod)}. Pass one modality, e.g. "
            f"`{model_name}.setup_anndata(mdata[{next(iter(adata.mod), 'rna')!r}], …)`."
        )
    if not isinstance(adata, AnnData):
        raise ArgumentTypeError(f"{model_name} reads an AnnData, not {type(adata).__name__}.")
