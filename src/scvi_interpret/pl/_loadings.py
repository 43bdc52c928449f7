"""Heatmaps of factor loadings and of factors per group."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from scvi_interpret.errors import InvalidArgumentError, UnknownNameError

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


def _heatmap(
    matrix: pd.DataFrame, title: str, cbar_label: str, ax=None, **style
) -> tuple[Figure, bool]:
    """One heatmap, into ``ax`` or a new figure sized to the matrix; ``(figure, owned)``.

    ``style``: ``cmap`` and ``limits`` of :func:`draw_heatmap`.
    """
    # long column labels (program names) are drawn below the axes: make room for them
    label_height = 0.075 * max((len(str(c)) for c in matrix.columns), default=0)
    height = max(3.0, 0.22 * matrix.shape[0] + 1.2 + label_height)
    width = max(3.5, 0.45 * matrix.shape[1] + 2.0)
    fig, (panel,), owned = panels(ax, 1, (width, height))
    if owned:
        fig.set_layout_engine("constrained")
    draw_heatmap(panel, matrix, title, cbar_label, **style)
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
    data,
    groupby: str | None = None,
    basis: str | None = None,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: Save = None,
    return_fig: bool = False,
) -> Figure | None:
    """Mean factor value per group (rows: groups, columns: factors).

    Parameters
    ----------
    data
        A table from :func:`scvi_interpret.tl.group_means`, or, as ``sc.pl.*`` take it, an
        AnnData/MuData with the factors in ``.obsm[basis]`` (column names from
        ``.uns[basis]["columns"]`` when stored there) and the groups in ``.obs[groupby]``.
    groupby
        ``.obs`` column of the groups (with an AnnData/MuData). Group labels take the
        colours of ``.uns[f"{groupby}_colors"]`` when present, as in scanpy.
    basis
        ``.obsm`` key of the factors (with an AnnData/MuData), e.g. ``"X_linearvi"``.
    ax, show, save, return_fig
        As in scanpy: draw into the given axes, show the figure, save it (``True``, a
        suffix, or a path), return it.

    Returns
    -------
    The figure if ``return_fig``.

    Examples
    --------
    >>> latent = model.get_latent_representation(key_added="X_linearvi")
    >>> si.pl.factor_heatmap(si.tl.group_means(latent, adata.obs["cell_type"]))
    >>> si.pl.factor_heatmap(adata, groupby="cell_type", basis="X_linearvi")  # the same
    """
    colours = None
    if isinstance(data, pd.DataFrame):
        means = data
    else:
        means, colours = means_from_cells(data, groupby, basis)
    fig, owned = _heatmap(means, "Mean factor value per group", "mean (z-scored)", ax)
    colour_group_labels(fig, ax, owned, colours)
    return finish(fig, show, save, return_fig, "factor_heatmap", owned)


def colour_group_labels(fig: Figure, ax, owned: bool, colours: dict[str, str] | None) -> None:
    """Colour the row labels (groups) of a one-panel heatmap as scanpy colours the groups."""
    if colours is None:
        return
    panel = fig.axes[0] if owned else panels(ax, 1, (0, 0))[1][0]
    for label in panel.get_yticklabels():
        label.set_color(colours.get(label.get_text(), "black"))


def means_from_cells(
    data, groupby: str | None, basis: str | None, standardize: bool = True
) -> tuple[pd.DataFrame, dict[str, str] | None]:
    """Group means of ``data.obsm[basis]`` by ``data.obs[groupby]``, and the group colours.

    Column names come from ``data.uns[basis]["columns"]`` when stored there; colours from
    ``data.uns[f"{groupby}_colors"]`` (scanpy's palette) when present.
    """
    from scvi_interpret.tl import group_means

    if groupby is None or basis is None:
        raise InvalidArgumentError(
            "With an AnnData/MuData, name the groups and the factors: "
            f"groupby='cell_type', basis={'X_linearvi' if standardize else 'archetypes'!r} "
            "(an .obsm key)."
        )
    if basis not in data.obsm:
        raise UnknownNameError(f"basis={basis!r} is not in .obsm (it has {list(data.obsm)}).")
    if groupby not in data.obs:
        raise UnknownNameError(f"groupby={groupby!r} is not an .obs column.")
    stored = data.uns.get(basis)
    names = stored.get("columns") if isinstance(stored, dict) else None
    groups = data.obs[groupby]
    means = group_means(
        np.asarray(data.obsm[basis]), groups.to_numpy(), names=names, standardize=standardize
    )
    colours = None
    palette = data.uns.get(f"{groupby}_colors")
    if palette is not None and isinstance(groups.dtype, pd.CategoricalDtype):
        colours = dict(zip(map(str, groups.cat.categories), palette, strict=False))
    return means, colours
