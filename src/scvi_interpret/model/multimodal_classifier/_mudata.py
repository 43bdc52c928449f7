"""MuData checks and reshaping for MultimodalClassifier: aligned modalities, query padding."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import mudata as md
import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from scvi_interpret.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidDataError,
    UnknownNameError,
)
from scvi_interpret.model.base import check_counts, check_has_cells, check_obs_keys, get_matrix
from scvi_interpret.model.base._validation import check_aligned, row_totals


def check_mudata(
    mdata,
    modalities: Mapping[str, str],
    layers: Mapping[str, str | None],
    obs_keys: Mapping[str, str | None],
) -> None:
    """Raise, before any state changes, if ``mdata`` cannot be set up as asked.

    Checks: a MuData; known modality keys; every modality's cells equal to ``mdata``'s, in
    the same order; the ``.obs`` keys; raw counts in each modality's layer; no cell without
    counts in every modality.

    Parameters
    ----------
    mdata
        The MuData being set up.
    modalities
        Modality name (``"rna"``, ``"protein"``, ``"atac"``…) -> key in ``mdata.mod``.
    layers
        Modality name -> layer with the counts (``None``: ``.X``).
    obs_keys
        Setup argument name -> column of ``mdata.obs``.
    """
    if not isinstance(mdata, md.MuData):
        raise ArgumentTypeError(
            f"setup_mudata needs a MuData, got {type(mdata).__name__}. Wrap AnnData objects "
            "with `mudata.MuData({'rna': adata_rna, 'prot': adata_protein})`."
        )
    check_has_cells(mdata, "mdata")
    if not modalities:
        raise InvalidArgumentError(
            "modalities is empty: name at least one, e.g. modalities={'rna': 'rna'}."
        )
    unknown = set(layers) - set(modalities)
    if unknown:
        raise UnknownNameError(
            f"layers names modalities {sorted(unknown)} that are not in modalities."
        )
    for name, key in modalities.items():
        if key not in mdata.mod:
            raise UnknownNameError(
                f"modalities[{name!r}]={key!r} is not a modality of the MuData "
                f"(it has {list(mdata.mod)})."
            )
        check_aligned(mdata, key)
    check_obs_keys(mdata, dict(obs_keys))
    total = np.zeros(mdata.n_obs)
    for name, key in modalities.items():
        layer = layers.get(name)
        matrix = get_matrix(mdata.mod[key], layer)
        where = f"mdata.mod[{key!r}]." + ("X" if layer is None else f"layers[{layer!r}]")
        check_counts(matrix, where)
        total += row_totals(matrix)
    n_empty = int((total <= 0).sum())
    if n_empty:
        raise InvalidDataError(
            f"{n_empty} cell(s) have no counts in any modality. Remove them first, e.g. "
            "`mdata = mdata[total_counts > 0].copy()`."
        )


@contextmanager
def _quiet_mudata() -> Iterator[None]:
    """Build a MuData without mudata's notices that call for no action here.

    mudata ≥ 0.4's update behaviour (no pulling of modality columns; ``obs`` is set right
    after), and features that are unique per modality only (a gene CD14 and a protein CD14
    are two features), which the data set loaders accept the same way.
    """
    with md.set_options(pull_on_update=False), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*var_names are (intersecting|not unique)")
        yield


def check_classes(class_names: list[str], unlabeled_category: str) -> None:
    """Raise unless the labels name at least two classes besides the unlabelled category."""
    if len(class_names) < 2:
        raise InvalidDataError(
            f"The labels name {len(class_names)} class(es) {class_names} besides the unlabelled "
            f"category {unlabeled_category!r}; a classifier needs at least two. Label some "
            "cells of two or more types, or map an unlabelled query onto a trained reference "
            "with `MultimodalClassifier.load_query_data`."
        )


def align_mudata(mdata: md.MuData) -> md.MuData:
    """A MuData in which every modality has every cell of ``mdata``, in ``mdata``'s order.

    Cells a modality did not measure get a row of zeros there (for ``.X`` and every layer);
    :class:`MultimodalClassifier` reads a cell with zero counts in a modality as not measured
    in it. ``mdata.obs`` (the global columns) is kept; a boolean column ``obs["<key>_measured"]``
    per modality says which cells were measured in it.

    Parameters
    ----------
    mdata
        A mosaic MuData whose modalities cover different subsets of its cells.

    Returns
    -------
    A new MuData; ``mdata`` is not changed.
    """
    padded = {}
    for key, modality in mdata.mod.items():
        padded[key] = _reindex_cells(modality, mdata.obs_names)
    with _quiet_mudata():
        aligned = md.MuData(padded)
    global_columns = [c for c in mdata.obs.columns if ":" not in c]
    aligned.obs = mdata.obs[global_columns].copy()
    for key, modality in mdata.mod.items():
        aligned.obs[f"{key}_measured"] = np.asarray(mdata.obs_names.isin(modality.obs_names))
    return aligned


def pad_query(
    mdata: md.MuData, reference_features: Mapping[str, pd.Index]
) -> tuple[md.MuData, dict[str, int]]:
    """The query with the reference's modalities and features, every modality every cell.

    Kept beside scvi-tools' ``ArchesMixin.prepare_query_mudata``, which raises when the query
    lacks one of the reference's modalities and does not align cells across modalities: a
    mosaic query (RNA only, or cells measured in different modalities) needs both.

    Parameters
    ----------
    mdata
        Query MuData.
    reference_features
        Modality key -> the reference's feature names, in order.

    Returns
    -------
    The new MuData and, per modality key, how many reference features were missing in the
    query (filled with zeros; a whole missing modality counts all its features).
    """
    modalities, missing = {}, {}
    for key, features in reference_features.items():
        if key in mdata.mod:
            source = _reindex_cells(mdata.mod[key], mdata.obs_names)
        else:
            source = AnnData(
                sparse.csr_matrix((mdata.n_obs, 0), dtype=np.float32),
                obs=pd.DataFrame(index=mdata.obs_names),
            )
        missing[key] = int((~pd.Index(features).isin(source.var_names)).sum())
        modalities[key] = _reindex_features(source, pd.Index(features))
    with _quiet_mudata():
        query = md.MuData(modalities)
    query.obs = mdata.obs[[c for c in mdata.obs.columns if ":" not in c]].copy()
    return query, missing


def _reindex_cells(adata: AnnData, cells: pd.Index) -> AnnData:
    """Rows in the order of ``cells``; cells not in ``adata`` become zero rows."""
    if adata.obs_names.equals(cells):
        return adata.copy()
    unknown = adata.obs_names.difference(cells)
    if len(unknown):
        raise InvalidDataError(
            f"{len(unknown)} cell(s) of a modality are not cells of the MuData "
            f"(e.g. {unknown[:3].tolist()}); call `mdata.update()` first."
        )
    rows = cells.get_indexer(adata.obs_names)
    layers = {None: adata.X, **dict(adata.layers)}
    out = {}
    for name, matrix in layers.items():
        coo = sparse.coo_matrix(matrix)
        out[name] = sparse.csr_matrix(
            (coo.data, (rows[coo.row], coo.col)), shape=(len(cells), adata.n_vars)
        )
    return AnnData(out.pop(None), obs=pd.DataFrame(index=cells), var=adata.var.copy(), layers=out)


def _reindex_features(adata: AnnData, features: pd.Index) -> AnnData:
    """Columns in the order of ``features``; features not in ``adata`` become zero columns."""
    if adata.var_names.equals(features):
        return adata
    columns = adata.var_names.get_indexer(features)
    found = columns >= 0
    layers = {None: adata.X, **dict(adata.layers)}
    out = {}
    # a 0/1 selection matrix moves each found feature to its reference column
    selection = sparse.csr_matrix(
        (np.ones(found.sum(), dtype=np.float32), (columns[found], np.flatnonzero(found))),
        shape=(adata.n_vars, len(features)),
    )
    for name, matrix in layers.items():
        out[name] = sparse.csr_matrix(sparse.csr_matrix(matrix) @ selection)
    return AnnData(
        out.pop(None), obs=adata.obs.copy(), var=pd.DataFrame(index=features), layers=out
    )
