"""Figures in scanpy style: ``show=``, ``save=``, and the figure on ``return_fig=True``."""

from ._loadings import factor_heatmap, loadings_heatmap

__all__ = ["factor_heatmap", "loadings_heatmap"]
