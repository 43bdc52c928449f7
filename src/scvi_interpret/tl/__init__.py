"""Pure algorithms on model outputs (attribution, traversal and archetypes follow)."""

from ._loadings import group_means, top_features

__all__ = ["group_means", "top_features"]
