"""Figures the way scanpy makes them: into given axes, shown, saved under ``figdir``, returned."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from scvi_interpret.errors import ArgumentTypeError, InvalidArgumentError

Save = bool | str | os.PathLike | None
IMAGE_FORMATS = {"png", "pdf", "svg", "jpg", "jpeg", "tif", "tiff", "eps", "ps"}


def panels(
    ax: Axes | Sequence[Axes] | None, n_panels: int, figsize: tuple[float, float]
) -> tuple[Figure, list[Axes], bool]:
    """The axes a figure draws into: the caller's (``ax=``), or a new figure's.

    Returns
    -------
    ``(figure, axes, owned)``; ``owned`` is False when the caller gave the axes (the
    figure is theirs: not shown, closed or resized here).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, axes = plt.subplots(1, n_panels, figsize=figsize, squeeze=False)
        return fig, list(axes[0]), True
    axes = [ax] if isinstance(ax, Axes) else list(ax)
    if not all(isinstance(a, Axes) for a in axes):
        raise ArgumentTypeError(f"ax must be a matplotlib Axes (or one per panel), not {ax!r}.")
    if len(axes) != n_panels:
        raise InvalidArgumentError(
            f"This figure has {n_panels} panel(s) (e.g. one per modality); ax= gave "
            f"{len(axes)}. Pass one Axes per panel."
        )
    return axes[0].figure, axes, False


def figure_path(save: Save, name: str) -> Path | None:
    """Where ``save=`` writes, with scanpy's rules.

    ``True``: ``figdir/<name><plot_suffix>.<file_format_figs>``; a string without a folder
    is a suffix (``"_rna.pdf"`` → ``figdir/<name>_rna.pdf``; no extension: scanpy's format);
    a path with a folder is written as given.
    """
    if save is None or save is False:
        return None
    import scanpy as sc

    figdir, fmt = Path(sc.settings.figdir), sc.settings.file_format_figs
    if save is True:
        return figdir / f"{name}{sc.settings.plot_suffix}.{fmt}"
    path = Path(save)
    if path.parent != Path("."):
        return path
    stem = f"{name}{path.name}"
    return figdir / (stem if Path(stem).suffix.lstrip(".") in IMAGE_FORMATS else f"{stem}.{fmt}")


def finish(
    fig: Figure,
    show: bool | None,
    save: Save,
    return_fig: bool,
    name: str,
    owned: bool = True,
) -> Figure | None:
    """Save and/or show ``fig``; return it if asked.

    Parameters
    ----------
    fig
        The figure.
    show
        Show it (``None``: show unless saving, returning it, or drawing into given axes).
    save
        See :func:`figure_path`; the resolution is matplotlib's ``savefig.dpi`` (which
        ``sc.settings.set_figure_params(dpi_save=…)`` sets).
    return_fig
        Return the figure instead of ``None``.
    name
        The plot's name, the start of the file name under ``figdir``.
    owned
        The figure was made here (not the caller's axes).
    """
    import matplotlib.pyplot as plt

    path = figure_path(save, name)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight")
    if show is None:
        show = path is None and not return_fig and owned
    if show:
        plt.show()
    if return_fig:
        return fig
    if not show and owned:
        plt.close(fig)
    return None
