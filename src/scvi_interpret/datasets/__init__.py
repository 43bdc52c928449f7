"""Loaders for the real data sets used in tests, tutorials and benchmarks."""

from ._files import DataFileMismatchError, DataFileMissingError, resolve_data_dir
from ._loaders import bmmc_multiome, pancreas, pbmc_citeseq, pbmc_mosaic

__all__ = [
    "DataFileMismatchError",
    "DataFileMissingError",
    "bmmc_multiome",
    "pancreas",
    "pbmc_citeseq",
    "pbmc_mosaic",
    "resolve_data_dir",
]
