"""Align gene sets to ``var_names``: a genes × programs mask and a coverage report."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scvi_interpret.errors import InvalidArgumentError, InvalidDataError

from ._read import GeneSets, as_gene_sets


def _unique_index(var_names: Sequence[str] | pd.Index) -> pd.Index:
    index = pd.Index(var_names).astype(str)
    if index.has_duplicates:
        dupes = index[index.duplicated()].unique()[:5].tolist()
        raise InvalidDataError(
            f"var_names hold duplicates (e.g. {dupes}); a mask row would be ambiguous. "
            "Call `adata.var_names_make_unique()` first."
        )
    return index


def _match(
    var_names: pd.Index, gene_sets: dict[str, list[str]], case_sensitive: bool
) -> dict[str, np.ndarray]:
    """Positions in ``var_names`` of each set's genes (all case variants when insensitive)."""
    keys = var_names if case_sensitive else var_names.str.upper()
    positions = pd.Series(np.arange(len(keys))).groupby(keys.to_numpy()).agg(list).to_dict()
    matched = {}
    for name, genes in gene_sets.items():
        wanted = genes if case_sensitive else [g.upper() for g in genes]
        hits = [p for g in dict.fromkeys(wanted) for p in positions.get(g, ())]
        matched[name] = np.unique(np.asarray(hits, dtype=int))
    return matched


def _no_overlap_message(var_names: pd.Index, gene_sets: dict[str, list[str]]) -> str:
    set_genes = list(dict.fromkeys(g for genes in gene_sets.values() for g in genes))
    ours, theirs = var_names[:5].tolist(), set_genes[:5]
    hints = []
    if var_names.str.upper().str.startswith(("ENSG", "ENSMUSG")).mean() > 0.5:
        hints.append(
            "var_names look like Ensembl IDs while the gene sets use symbols: use a symbol "
            "column (e.g. `adata.var_names = adata.var['gene_symbols']`)"
        )
    upper_sets = np.mean([g.isupper() for g in set_genes]) > 0.8
    title_vars = np.mean([v[:1].isupper() and v[1:] == v[1:].lower() for v in var_names]) > 0.5
    if upper_sets and title_vars:
        hints.append(
            "the gene sets look like human symbols (upper case) and var_names like mouse "
            "symbols: map orthologs, or pass `case_sensitive=False` if the species match"
        )
    hint = ("; ".join(hints) + ".") if hints else "Check species and identifier type."
    return (
        f"No gene of any of the {len(gene_sets)} gene sets is in var_names. "
        f"var_names start with {ours}; gene sets hold e.g. {theirs}. {hint}"
    )


def coverage(
    var_names: Sequence[str] | pd.Index, gene_sets: GeneSets, case_sensitive: bool = True
) -> pd.DataFrame:
    """How much of each gene set is present in ``var_names``.

    Parameters
    ----------
    var_names
        Genes of the data, e.g. ``adata.var_names`` (length ``n_genes``).
    gene_sets
        Dict, long DataFrame or GMT path; see :func:`~scvi_interpret.genesets.as_gene_sets`.
    case_sensitive
        Match symbols exactly (default) or ignoring case.

    Returns
    -------
    DataFrame with one row per program (index: program name) and columns
    ``n_genes_in_set``, ``n_genes_found``, ``fraction_found``.

    Examples
    --------
    >>> sets = {"T": ["CD3E", "CD4", "CD8A"], "B": ["MS4A1"]}
    >>> report = si.genesets.coverage(["CD3E", "CD4", "MS4A1", "LYZ"], sets)
    >>> report[["n_genes_in_set", "n_genes_found"]]
             n_genes_in_set  n_genes_found
    program
    T                     3              2
    B                     1              1
    """
    index = _unique_index(var_names)
    sets = as_gene_sets(gene_sets)
    return _coverage_table(sets, _match(index, sets, case_sensitive))


def _coverage_table(sets: dict[str, list[str]], matched: dict[str, np.ndarray]) -> pd.DataFrame:
    in_set = np.array([len(genes) for genes in sets.values()])
    found = np.array([len(matched[name]) for name in sets])
    return pd.DataFrame(
        {"n_genes_in_set": in_set, "n_genes_found": found, "fraction_found": found / in_set},
        index=pd.Index(list(sets), name="program"),
    )


def _plain(value):
    """A numpy scalar as its Python value (``attrs`` must compare with ``==``)."""
    return value.item() if isinstance(value, np.generic) else value


def build_mask(
    var_names: Sequence[str] | pd.Index,
    gene_sets: GeneSets,
    min_genes: int = 1,
    max_genes: int | None = None,
    case_sensitive: bool = True,
) -> pd.DataFrame:
    """Build a boolean genes × programs mask aligned to ``var_names``.

    Parameters
    ----------
    var_names
        Genes of the data, e.g. ``adata.var_names`` (length ``n_genes``, unique).
    gene_sets
        Dict, long DataFrame or GMT path; see :func:`~scvi_interpret.genesets.as_gene_sets`.
    min_genes
        Keep programs with at least this many genes found in ``var_names``.
    max_genes
        Keep programs with at most this many genes found (``None``: no upper bound).
    case_sensitive
        Match symbols exactly (default) or ignoring case (``"cd14"`` matches ``"CD14"``).

    Returns
    -------
    DataFrame of shape (n_genes, n_programs), dtype bool, index ``var_names``, columns the
    programs kept, in input order. The coverage of every program, kept or not, is in
    ``mask.attrs["coverage"]`` as a dict of columns (``pd.DataFrame(mask.attrs["coverage"])``
    is the table of :func:`coverage` with a ``kept`` column); plain values, so that masks can
    be concatenated (``pd.concat([mask_a, mask_b], axis=1)``) and saved.

    Raises
    ------
    ValueError
        No gene of any set is in ``var_names`` (the message shows names from both sides), or
        no program passes ``min_genes``/``max_genes``, or ``var_names`` has duplicates.

    Examples
    --------
    >>> sets = {"T_CELL": ["CD3E", "CD4", "CD8A"], "B_CELL": ["MS4A1", "CD79A"], "TINY": ["LYZ"]}
    >>> mask = si.genesets.build_mask(["CD3E", "CD4", "MS4A1", "CD79A", "LYZ"], sets, min_genes=2)
    >>> mask.astype(int)  # genes × programs; TINY has fewer than 2 genes in the data
    program  T_CELL  B_CELL
    CD3E          1       0
    CD4           1       0
    MS4A1         0       1
    CD79A         0       1
    LYZ           0       0
    >>> mask.attrs["coverage"]["kept"]
    {'T_CELL': True, 'B_CELL': True, 'TINY': False}

    With a GMT file: ``si.genesets.build_mask(adata.var_names, "h.all.v7.5.1.symbols.gmt")``.
    """
    if min_genes < 1:
        raise InvalidArgumentError(f"min_genes must be at least 1, got {min_genes}.")
    if max_genes is not None and max_genes < min_genes:
        raise InvalidArgumentError(f"max_genes ({max_genes}) is below min_genes ({min_genes}).")
    index = _unique_index(var_names)
    sets = as_gene_sets(gene_sets)
    matched = _match(index, sets, case_sensitive)
    report = _coverage_table(sets, matched)
    if report["n_genes_found"].sum() == 0:
        raise InvalidDataError(_no_overlap_message(index, sets))
    upper = np.inf if max_genes is None else max_genes
    report["kept"] = report["n_genes_found"].between(min_genes, upper)
    kept = report.index[report["kept"]]
    if len(kept) == 0:
        largest = int(report["n_genes_found"].max())
        raise InvalidArgumentError(
            f"No program has between {min_genes} and {max_genes or 'any number of'} genes in "
            f"var_names (the largest has {largest}). Lower `min_genes` or use more genes."
        )
    values = np.zeros((len(index), len(kept)), dtype=bool)
    for column, name in enumerate(kept):
        values[matched[name], column] = True
    mask = pd.DataFrame(values, index=index, columns=pd.Index(kept, name="program"))
    mask.attrs["coverage"] = {
        column: {str(name): _plain(value) for name, value in values.items()}
        for column, values in report.items()
    }
    return mask
