"""Figures in scanpy style: ``ax=``, ``show=``, ``save=`` (into ``figdir``), ``return_fig=``."""

from ._attribution import beeswarm, deletion_curve, feature_importance, modality_share
from ._latent import archetypes, traversal_heatmap
from ._loadings import factor_heatmap, loadings_heatmap

__all__ = [
    "archetypes",
    "beeswarm",
    "deletion_curve",
    "factor_heatmap",
    "feature_importance",
    "loadings_heatmap",
    "modality_share",
    "traversal_heatmap",
]
