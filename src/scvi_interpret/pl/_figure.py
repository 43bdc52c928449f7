"""Finishing a figure the way scanpy does: show, save, or return it."""

from __future__ import annotations

import os

from matplotlib.figure import Figure


def finish(
    fig: Figure, show: bool | None, save: str | os.PathLike | None, return_fig: bool
) -> Figure | None:
    """Save and/or show ``fig``; return it if asked.

    Parameters
    ----------
    fig
        The figure.
    show
        Show it (``None``: show unless saving or returning it).
    save
        Path to write it to (format from the suffix).
    return_fig
        Return the figure instead of ``None``.
    """
    import matplotlib.pyplot as plt

    if save is not None:
        fig.savefig(save, dpi=150, bbox_inches="tight")
    if show is None:
        show = save is None and not return_fig
    if show:
        plt.show()
    if return_fig:
        return fig
    if not show:
        plt.close(fig)
    return None
