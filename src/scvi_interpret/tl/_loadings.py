"""Summaries of loadings and latent factors as tidy tables."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scvi_interpret.errors import InvalidArgumentError


def top_features(loadings: pd.DataFrame, n_top: int = 10) -> pd.DataFrame:
    """The features with the largest positive and negative loading of each factor.

    Parameters
    ----------
    loadings
        Features × factors, e.g. from :meth:`~scvi_interpret.model.LinearVI.get_loadings`.
    n_top
        Features per factor and direction.

    Returns
    -------
    Tidy DataFrame with columns ``factor``, ``direction`` (``"positive"``/``"negative"``),
    ``feature``, ``loading``, ``rank`` (1 = strongest), sorted by factor, direction, rank.

    Examples
    --------
    >>> loadings = pd.DataFrame({"factor_0": [2.0, -1.0, 0.1]}, index=["CD3E", "LYZ", "ACTB"])
    >>> si.tl.top_features(loadings, n_top=1)
         factor direction feature  loading  rank
    0  factor_0  positive    CD3E      2.0     1
    1  factor_0  negative     LYZ     -1.0     1
    """
    if n_top < 1:
        raise InvalidArgumentError(f"n_top must be at least 1, got {n_top}.")
    rows = []
    for factor in loadings.columns:
        column = loadings[factor]
        for direction, ordered in (
            ("positive", column.sort_values(ascending=False)),
            ("negative", column.sort_values(ascending=True)),
        ):
            for rank, (feature, value) in enumerate(ordered.iloc[:n_top].items(), start=1):
                rows.append((factor, direction, feature, float(value), rank))
    return pd.DataFrame(rows, columns=["factor", "direction", "feature", "loading", "rank"])


def group_means(
    values: np.ndarray | pd.DataFrame,
    groups: Sequence | pd.Series,
    names: Sequence[str] | None = None,
    standardize: bool = True,
) -> pd.DataFrame:
    """Mean of each column per group, e.g. of latent factors per cell type.

    A pandas ``groupby`` on the cells × factors table (``scanpy.get.aggregate`` would need an
    AnnData built around it for the same result).

    Parameters
    ----------
    values
        Array or DataFrame of shape (n_cells, n_factors).
    groups
        Group label of each cell, length n_cells.
    names
        Column names when ``values`` is an array; default ``factor_0`` ….
    standardize
        Z-score each column over cells first, so that factors are comparable.

    Returns
    -------
    DataFrame of shape (n_groups, n_factors).

    Examples
    --------
    >>> latent = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0]])
    >>> si.tl.group_means(latent, ["B", "B", "T", "T"], standardize=False)
       factor_0  factor_1
    B       2.0       0.0
    T       0.0       3.0
    """
    frame = pd.DataFrame(values).copy()
    if not isinstance(values, pd.DataFrame):
        frame.columns = (
            list(names) if names is not None else [f"factor_{i}" for i in range(frame.shape[1])]
        )
    if len(groups) != len(frame):
        raise InvalidArgumentError(
            f"groups has {len(groups)} entries but values has {len(frame)} rows."
        )
    if standardize:
        frame = (frame - frame.mean()) / frame.std(ddof=0).replace(0, 1)
    frame.index = pd.RangeIndex(len(frame))
    return frame.groupby(np.asarray(groups), observed=True).mean()
