"""Heatmaps of factor loadings and of factors per group."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._figure import Save, finish, panels


def draw_heatmap(
    ax, matrix: pd.DataFrame, title: str, cbar_label: str, cmap: str = "RdBu_r", limits=None
) -> None:
    """Draw ``matrix`` into ``ax`` with its labels and a colour bar.

    ``limits`` is ``(vmin, vmax)``; default symmetric around 0 (a diverging scale).
    """
    if limits is None:
        limit = float(np.nanmax(np.abs(matrix.to_numpy()))) or 1.0
        limits = (-limit, limit)
    image = ax.imshow(matrix.to_numpy(), aspect="auto", cmap=cmap, vmin=limits[0], vmax=limits[1])
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=90)
    ax.set_yticks(range(matrix.shape[0]), matrix.index)
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, label=cbar_label, shrink=0.6)


def _heatmap(matrix: pd.DataFrame, title: str, cbar_label: str, ax=None) -> tuple[Figure, bool]:
    """One heatmap, into ``ax`` or a new figure sized to the matrix; ``(figure, owned)``."""
    # long column labels (program names) are drawn below the axes: make room for them
    label_height = 0.075 * max((len(str(c)) for c in matrix.columns), default=0)
    height = max(3.0, 0.22 * matrix.shape[0] + 1.2 + label_height)
    width = max(3.5, 0.45 * matrix.shape[1] + 2.0)
    fig, (panel,), owned = panels(ax, 1, (width, height))
    if owned:
        fig.set_layout_engine("constrained")
    draw_heatmap(panel, matrix, title, cbar_label)
    return fig, owned


def loadings_heatmap(
    loadings: pd.DataFrame,
    n_top: int = 3,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: Save = None,
    return_fig: bool = False,
) -> Figure | None:
    """Loadings of the top features of every factor.

    Parameters
    ----------
    loadings
        Features × factors, e.g. from :meth:`~scvi_interpret.model.LinearVI.get_loadings`.
    n_top
        Features per factor with the largest positive loading.
    ax, show, save, return_fig
        As in scanpy: draw into the given axes, show the figure, save it (``True``, a
        suffix, or a path), return it.

    Returns
    -------
    The figure if ``return_fig``.

    Examples
    --------
    >>> si.pl.loadings_heatmap(model.get_loadings(), n_top=4, save=True)  # into sc.settings.figdir
    """
    features = list(
        dict.fromkeys(f for c in loadings.columns for f in loadings[c].nlargest(n_top).index)
    )
    fig, owned = _heatmap(loadings.loc[features], "Top loadings per factor", "loading", ax)
    return finish(fig, show, save, return_fig, "loadings_heatmap", owned)


def factor_heatmap(
    group_means: pd.DataFrame,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: Save = None,
    return_fig: bool = False,
) -> Figure | None:
    """Mean factor value per group (rows: groups, columns: factors).

    Parameters
    ----------
    group_means
        From :func:`scvi_interpret.tl.group_means`.
    ax, show, save, return_fig
        As in scanpy: draw into the given axes, show the figure, save it (``True``, a
        suffix, or a path), return it.

    Returns
    -------
    The figure if ``return_fig``.

    Examples
    --------
    >>> latent = model.get_latent_representation()
    >>> si.pl.factor_heatmap(si.tl.group_means(latent, adata.obs["cell_type"]))
    """
    fig, owned = _heatmap(group_means, "Mean factor value per group", "mean (z-scored)", ax)
    return finish(fig, show, save, return_fig, "factor_heatmap", owned)
