"""Torch layers shared by the modules of scvi-interpret."""

from ._covariate_offsets import CovariateOffsets
from ._experts import drop_modalities, product_of_experts
from ._freeze import train_only_beyond
from ._likelihoods import binary_poisson_log_prob, nb_log_prob
from ._linear_decoder import LinearDecoder
from ._masked_linear import MaskedLinear
from ._proximal import StepSizes, group_soft_threshold_, soft_threshold_

__all__ = [
    "CovariateOffsets",
    "LinearDecoder",
    "MaskedLinear",
    "StepSizes",
    "binary_poisson_log_prob",
    "drop_modalities",
    "group_soft_threshold_",
    "nb_log_prob",
    "product_of_experts",
    "soft_threshold_",
    "train_only_beyond",
]
