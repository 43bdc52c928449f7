"""Read gene sets from GMT files, dicts and long-format DataFrames."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from scvi_interpret.errors import ArgumentTypeError, InvalidDataError

GeneSets = Mapping[str, Iterable[str]] | pd.DataFrame | str | os.PathLike
"""Anything :func:`as_gene_sets` accepts: a dict, a long DataFrame or a GMT path."""


def read_gmt(path: str | os.PathLike) -> dict[str, list[str]]:
    r"""Read a GMT file (one gene set per line: name, description, genes; tab-separated).

    Parameters
    ----------
    path
        Path to the ``.gmt`` file, for example MSigDB's ``h.all.v7.5.1.symbols.gmt``; a
        gzip-compressed file (``.gmt.gz``) is read as well.

    Returns
    -------
    dict
        Program name -> gene symbols in file order, duplicates within a set removed.

    Raises
    ------
    ValueError
        A line has no genes, or a program name occurs twice.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sets.gmt"
    >>> _ = path.write_text("HALLMARK_A\tdescription\tCD3E\tCD4\nHALLMARK_B\tnone\tMS4A1\n")
    >>> si.genesets.read_gmt(path)
    {'HALLMARK_A': ['CD3E', 'CD4'], 'HALLMARK_B': ['MS4A1']}
    """
    gene_sets: dict[str, list[str]] = {}
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic number: a .gmt.gz
        raw = gzip.decompress(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidDataError(
            f"{path} is not a UTF-8 text GMT file (nor gzip-compressed); pass the .gmt or "
            ".gmt.gz file from MSigDB."
        ) from error
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\n\r").split("\t")
        name, genes = fields[0].strip(), [g.strip() for g in fields[2:] if g.strip()]
        if len(fields) < 3 or not genes:
            raise InvalidDataError(
                f"{path}, line {line_number}: a GMT line needs a name, a description and at "
                f"least one gene, separated by tabs; found {len(fields)} field(s)."
            )
        if name in gene_sets:
            raise InvalidDataError(
                f"{path}, line {line_number}: program {name!r} occurs twice. Rename or merge "
                "the duplicate lines."
            )
        gene_sets[name] = list(dict.fromkeys(genes))
    if not gene_sets:
        raise InvalidDataError(f"{path} holds no gene set.")
    return gene_sets


def _from_long_frame(frame: pd.DataFrame) -> dict[str, list[str]]:
    columns = [c for c in ("program", "geneset", "gene_set", "term", "source") if c in frame]
    genes = [c for c in ("gene", "genesymbol", "gene_symbol", "target", "symbol") if c in frame]
    if not columns or not genes:
        raise InvalidDataError(
            "A long-format gene-set DataFrame needs one column naming the program "
            "('program', 'geneset', 'gene_set', 'term' or 'source') and one naming the gene "
            f"('gene', 'genesymbol', 'gene_symbol', 'target' or 'symbol'); got {list(frame)}."
        )
    pairs = frame[[columns[0], genes[0]]].dropna().astype(str)
    return {
        str(name): list(dict.fromkeys(group[genes[0]]))
        for name, group in pairs.groupby(columns[0], sort=False)
    }


def as_gene_sets(gene_sets: GeneSets) -> dict[str, list[str]]:
    """Normalise any supported gene-set input to a dict.

    Parameters
    ----------
    gene_sets
        A dict (program -> genes), a long-format DataFrame (one row per program-gene
        pair, as from decoupler or MSigDB exports), or a path to a GMT file.

    Returns
    -------
    dict
        Program name -> unique gene names, in input order.

    Examples
    --------
    >>> long = pd.DataFrame({"program": ["T", "T", "B"], "gene": ["CD3E", "CD4", "MS4A1"]})
    >>> si.genesets.as_gene_sets(long)
    {'T': ['CD3E', 'CD4'], 'B': ['MS4A1']}
    """
    if isinstance(gene_sets, str | os.PathLike):
        return read_gmt(gene_sets)
    if isinstance(gene_sets, pd.DataFrame):
        return _from_long_frame(gene_sets)
    if isinstance(gene_sets, Mapping):
        out: dict[str, list[str]] = {}
        for name, genes in gene_sets.items():
            if isinstance(genes, str):
                raise ArgumentTypeError(
                    f"Gene set {name!r} is a single string; give a list of genes, "
                    f"for example [{genes!r}]."
                )
            out[str(name)] = list(dict.fromkeys(str(g) for g in genes))
        return out
    raise ArgumentTypeError(
        f"Gene sets must be a dict, a long-format DataFrame or a GMT path; got "
        f"{type(gene_sets).__name__}."
    )
