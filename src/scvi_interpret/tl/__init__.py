"""Pure algorithms on model outputs: attribution, calibration, traversal, archetypes."""

from ._archetypes import ArchetypeFit, archetypal_analysis
from ._attribution import (
    FeatureAttribution,
    expected_gradients,
    linear_shap,
    modality_share,
    stratified_background,
)
from ._attribution_sums import AttributionSums
from ._calibration import expected_calibration_error, fit_temperature
from ._cell_sample import check_sample_size, round_sizes, stratified_order
from ._differential import (
    GroupMoments,
    differential_activity,
    differential_activity_from_moments,
    posterior_fdr_calls,
)
from ._linear_input_gradients import LinearInput
from ._loadings import group_means, top_features
from ._traversal import latent_traversal
from ._trust import deletion_curve, rank_agreement

__all__ = [
    "ArchetypeFit",
    "AttributionSums",
    "FeatureAttribution",
    "GroupMoments",
    "LinearInput",
    "archetypal_analysis",
    "check_sample_size",
    "deletion_curve",
    "differential_activity",
    "differential_activity_from_moments",
    "expected_calibration_error",
    "expected_gradients",
    "fit_temperature",
    "group_means",
    "latent_traversal",
    "linear_shap",
    "modality_share",
    "posterior_fdr_calls",
    "rank_agreement",
    "round_sizes",
    "stratified_background",
    "stratified_order",
    "top_features",
]
