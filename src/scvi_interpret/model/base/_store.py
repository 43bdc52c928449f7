"""Results written into the user's AnnData/MuData the scverse way, only under ``key_added``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from scvi_interpret.errors import ScviInterpretWarning


def _warn_replaced(where: str) -> None:
    warnings.warn(
        f"{where} already existed and was replaced (key_added names where results go).",
        ScviInterpretWarning,
        stacklevel=4,
    )


def store_array(holder, slot: str, key: str, values) -> None:
    """Write ``values`` as a numpy array to ``holder.<slot>[key]``, its column names to ``uns``.

    ``sc.pl.embedding(basis=key)`` and ``sc.pp.neighbors(use_rep=key)`` read ``.obsm``
    arrays; a DataFrame there breaks them. A DataFrame's column names go to
    ``holder.uns[key]["columns"]``. Replacing an existing key warns.

    Parameters
    ----------
    holder
        The AnnData or MuData written to.
    slot
        ``"obsm"`` (per cell, shape (n_cells, n_columns)) or ``"varm"`` (per feature, shape
        (n_features, n_columns)).
    key
        The user's ``key_added``.
    values
        Array or DataFrame in the slot's row order.
    """
    container = getattr(holder, slot)
    if key in container:
        _warn_replaced(f"{slot}[{key!r}]")
    container[key] = np.asarray(values)
    if isinstance(values, pd.DataFrame):
        store_settings(holder, key, {"columns": [str(c) for c in values.columns]})


def store_obs(holder, columns: dict[str, object]) -> None:
    """Write per-cell columns to ``holder.obs``, warning for each one replaced."""
    for name, values in columns.items():
        if name in holder.obs:
            _warn_replaced(f"obs[{name!r}]")
        if isinstance(values, pd.Series):  # in cell order; keep its dtype (categories)
            values = values.set_axis(holder.obs_names)
        holder.obs[name] = values


def store_settings(holder, key: str, settings: dict) -> None:
    """Merge ``settings`` into ``holder.uns[key]`` (kept beside the column names)."""
    entry = holder.uns.get(key)
    entry = dict(entry) if isinstance(entry, dict) else {}
    entry.update(settings)
    holder.uns[key] = entry
