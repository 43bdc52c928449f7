"""Pure algorithms on model outputs (attribution, traversal and archetypes follow)."""

from ._differential import differential_activity, posterior_fdr_calls
from ._loadings import group_means, top_features

__all__ = ["differential_activity", "group_means", "posterior_fdr_calls", "top_features"]
