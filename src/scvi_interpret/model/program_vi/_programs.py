"""Resolve the user's gene programs to a validated genes × programs mask."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from scvi_interpret.errors import FeatureMismatchError, InvalidArgumentError, InvalidDataError
from scvi_interpret.genesets import GeneSets, build_mask

UNCONSTRAINED_PREFIX = "unconstrained_"
DEFAULT_MIN_GENES = 12  # programs built from gene sets need at least this many genes of the data


def _is_mask(frame: pd.DataFrame) -> bool:
    return frame.shape[1] > 0 and all(
        pd.api.types.is_bool_dtype(t) or pd.api.types.is_integer_dtype(t) for t in frame.dtypes
    )


def resolve_program_mask(
    var_names: pd.Index,
    varm: Mapping,
    gene_programs: pd.DataFrame | GeneSets,
    min_genes: int | None,
) -> pd.DataFrame:
    """Turn any supported program input into a boolean genes × programs mask.

    Parameters
    ----------
    var_names
        Genes of the registered data, in order; the mask is aligned to them.
    varm
        ``adata.varm`` of the registered data (``{}`` without an AnnData).
    gene_programs
        A boolean DataFrame (genes × programs, e.g. from
        :func:`~scvi_interpret.genesets.build_mask`), the name of such a DataFrame in
        ``adata.varm``, a GMT path, a dict of gene sets or a long-format DataFrame.
    min_genes
        Fewest genes a program must have in ``var_names``; ``None``: a ready mask as it is
        (at least 1), gene sets filtered at :data:`DEFAULT_MIN_GENES`.

    Returns
    -------
    Boolean DataFrame of shape (n_genes, n_programs), index ``var_names``.

    Raises
    ------
    ValueError
        Genes that do not match ``var_names``, programs with fewer than ``min_genes`` genes, an
        empty mask, duplicate program names, or names clashing with unconstrained nodes.
    """
    if isinstance(gene_programs, str) and gene_programs in varm:
        stored = varm[gene_programs]
        if not isinstance(stored, pd.DataFrame):
            raise InvalidArgumentError(
                f"adata.varm[{gene_programs!r}] is an array without program names; store the "
                "mask as a DataFrame (genes × programs) or pass it directly."
            )
        gene_programs = stored
    elif isinstance(gene_programs, str | os.PathLike) and not Path(gene_programs).is_file():
        raise InvalidArgumentError(
            f"gene_programs={str(gene_programs)!r} is neither a key of adata.varm "
            f"({list(varm)}) nor an existing GMT file."
        )
    ready = isinstance(gene_programs, pd.DataFrame) and _is_mask(gene_programs)
    if min_genes is None:
        min_genes = 1 if ready else DEFAULT_MIN_GENES
    if ready:
        mask = gene_programs.astype(bool)
        _check_genes(mask, var_names)
        mask = mask.loc[var_names]
    else:
        mask = build_mask(var_names, gene_programs, min_genes=min_genes)
    _check_programs(mask, min_genes)
    return mask


def _check_genes(mask: pd.DataFrame, var_names: pd.Index) -> None:
    if mask.index.has_duplicates:
        raise InvalidDataError("The mask's index (genes) has duplicates; make it unique first.")
    if set(mask.index) == set(var_names):
        return
    missing = var_names.difference(mask.index)
    extra = mask.index.difference(var_names)
    raise FeatureMismatchError(
        f"The mask's genes do not match adata.var_names: {len(missing)} genes of the data are "
        f"not in the mask (e.g. {missing[:3].tolist()}), {len(extra)} mask genes are not in the "
        f"data (e.g. {extra[:3].tolist()}). Build the mask from the data's genes: "
        "`si.genesets.build_mask(adata.var_names, gene_sets)`, or `mask.reindex(adata.var_names, "
        "fill_value=False)`."
    )


def _check_programs(mask: pd.DataFrame, min_genes: int) -> None:
    if mask.shape[1] == 0 or not mask.to_numpy().any():
        raise InvalidDataError(
            "The gene-program mask is empty: no program has any gene of the data."
        )
    names = pd.Index(mask.columns).astype(str)
    if names.has_duplicates:
        raise InvalidDataError(
            f"Program names are duplicated: {names[names.duplicated()].unique()[:5].tolist()}. "
            "Rename or merge them."
        )
    clashing = [n for n in names if n.startswith(UNCONSTRAINED_PREFIX)]
    if clashing:
        raise InvalidDataError(
            f"Program names may not start with {UNCONSTRAINED_PREFIX!r} (reserved for the "
            f"unconstrained nodes): {clashing[:3]}."
        )
    sizes = mask.sum(axis=0)
    small = sizes[sizes < min_genes]
    if len(small):
        raise InvalidArgumentError(
            f"{len(small)} program(s) have fewer than min_genes={min_genes} genes in the data, "
            f"e.g. {dict(small.head(3).astype(int))}. Drop them "
            f"(`mask.loc[:, mask.sum() >= {min_genes}]`) or lower `min_genes`."
        )
