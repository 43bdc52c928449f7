"""Torch layers shared by the modules of scvi-interpret."""

from ._covariate_offsets import CovariateOffsets
from ._linear_decoder import LinearDecoder

__all__ = ["CovariateOffsets", "LinearDecoder"]
