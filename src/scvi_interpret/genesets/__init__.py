"""Gene sets (GMT files, dicts, long DataFrames) to program masks aligned to ``var_names``."""

from ._mask import build_mask, coverage
from ._read import GeneSets, as_gene_sets, read_gmt

__all__ = ["GeneSets", "as_gene_sets", "build_mask", "coverage", "read_gmt"]
