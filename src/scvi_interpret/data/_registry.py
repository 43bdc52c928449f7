"""A model's data registry for cells that are not in memory.

scvi-tools models describe their data by a registry: which fields, their categories, the
features. For data on disk we build exactly the registry the model's own ``setup_anndata``
(or ``setup_mudata``) would build, by running it on a *proxy*: an AnnData (or MuData) with
the store's ``obs`` columns and feature names and one count per cell, no expression. So a
model trained from disk saves, loads and maps queries like one trained in memory, and the
per-cell codes (batch, labels, covariates) are the ones scvi-tools assigns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from copy import deepcopy

import mudata as md
import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse
from scvi import REGISTRY_KEYS

from scvi_interpret.errors import ArgumentTypeError

OBS_KEY_SUFFIXES = ("_key", "_keys")


def obs_columns(setup_kwargs: Mapping) -> list[str]:
    """The ``obs`` columns named by setup arguments (``batch_key``, ``*_covariate_keys``…)."""
    columns: list[str] = []
    for name, value in setup_kwargs.items():
        if value is None or not name.endswith(OBS_KEY_SUFFIXES) or isinstance(value, Mapping):
            continue
        if isinstance(value, str):
            columns.append(value)
        elif isinstance(value, Sequence):
            columns += [str(v) for v in value]
        else:
            raise ArgumentTypeError(
                f"{name}={value!r}: give a column name or a list of column names."
            )
    return list(dict.fromkeys(columns))


def _proxy_anndata(obs: pd.DataFrame, features: Sequence[str]) -> AnnData:
    """An AnnData with ``obs`` and ``features`` and a single count per cell."""
    n_cells = len(obs)
    ones = sparse.csr_matrix(
        (np.ones(n_cells, dtype=np.float32), np.zeros(n_cells, dtype=np.int32),
         np.arange(n_cells + 1, dtype=np.int64)),
        shape=(n_cells, len(features)),
    )  # fmt: skip
    return AnnData(ones, obs=obs.copy(), var=pd.DataFrame(index=pd.Index(features, dtype=str)))


def build_registry(
    model_cls,
    obs: pd.DataFrame,
    features: Mapping[str, Sequence[str]] | Sequence[str],
    setup_kwargs: Mapping,
    source_registry: dict | None = None,
    extend_categories: bool = False,
) -> tuple[dict, dict[str, np.ndarray]]:
    """The registry ``model_cls``'s setup method gives these cells, and their codes.

    Parameters
    ----------
    model_cls
        An scvi-tools model class (ours or scvi-tools' own).
    obs
        The cells' ``obs`` columns named in ``setup_kwargs``, one row per cell, in the
        order the cells are read.
    features
        Feature names: a list (single-modality model) or ``{mod_key: names}`` (a model set up
        with ``setup_mudata``).
    setup_kwargs
        Arguments of the setup method (``batch_key=…``; for a MuData ``modalities=…``).
    source_registry
        A trained model's registry: its categories (and feature names) are used, as
        scvi-tools does when a query is set up for a reference.
    extend_categories
        With ``source_registry``, give categories the reference has not seen new codes
        (reference mapping); else they are an error.

    Returns
    -------
    The registry (a dict, as saved with a model) and ``{registry key: codes}`` for every
    registered field other than the counts: arrays with one row per cell.
    """
    obs = obs.copy()
    obs.index = pd.Index(np.arange(len(obs)).astype(str))
    if isinstance(features, Mapping):
        proxy = md.MuData({key: _proxy_anndata(obs, names) for key, names in features.items()})
        proxy.obs = obs
        setup = model_cls.setup_mudata
    else:
        proxy = _proxy_anndata(obs, features)
        setup = model_cls.setup_anndata
    kwargs = dict(setup_kwargs)
    if source_registry is not None:
        kwargs.update(source_registry=source_registry, extend_categories=extend_categories,
                      allow_missing_labels=True)  # fmt: skip
    setup(proxy, **kwargs)
    manager = model_cls._get_most_recent_anndata_manager(proxy, required=True)
    registry = deepcopy(manager.registry)
    codes = {
        key: np.asarray(manager.get_from_registry(key))
        for key in manager.data_registry
        if key != REGISTRY_KEYS.X_KEY and not key.startswith("X_")
    }
    # the proxy is no longer needed: drop it from the class's store of managers
    model_cls._setup_adata_manager_store.pop(manager.adata_uuid, None)
    return registry, codes
