"""Pure algorithms on model outputs (attribution, traversal and archetypes follow)."""

from ._attribution import (
    FeatureAttribution,
    expected_gradients,
    linear_shap,
    stratified_background,
)
from ._differential import differential_activity, posterior_fdr_calls
from ._loadings import group_means, top_features

__all__ = [
    "FeatureAttribution",
    "differential_activity",
    "expected_gradients",
    "group_means",
    "linear_shap",
    "posterior_fdr_calls",
    "stratified_background",
    "top_features",
]
