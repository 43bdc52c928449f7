"""Pure algorithms on model outputs: attribution, calibration, traversal, archetypes."""

from ._archetypes import ArchetypeFit, archetypal_analysis
from ._attribution import (
    FeatureAttribution,
    expected_gradients,
    linear_shap,
    modality_share,
    stratified_background,
)
from ._calibration import expected_calibration_error, fit_temperature
from ._differential import differential_activity, posterior_fdr_calls
from ._loadings import group_means, top_features
from ._traversal import latent_traversal
from ._trust import deletion_curve, rank_agreement

__all__ = [
    "ArchetypeFit",
    "FeatureAttribution",
    "archetypal_analysis",
    "deletion_curve",
    "differential_activity",
    "expected_calibration_error",
    "expected_gradients",
    "fit_temperature",
    "group_means",
    "latent_traversal",
    "linear_shap",
    "modality_share",
    "posterior_fdr_calls",
    "rank_agreement",
    "stratified_background",
    "top_features",
]
