"""Figures of feature importance: bars, beeswarm, modality share, deletion curve."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from scvi_interpret.errors import UnknownNameError

from ._figure import finish


def feature_importance(
    importance: pd.DataFrame,
    target: str,
    n_top: int = 15,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Figure | None:
    """Bar chart of the top features of one target, one panel per modality.

    Bar length: mean absolute SHAP value; colour: the sign of the mean SHAP value (red: the
    feature pushes the target up on average, blue: down).

    Parameters
    ----------
    importance
        Table from ``model.get_feature_importance``.
    target
        The target to show.
    n_top
        Features per modality.
    show, save, return_fig
        As in scanpy.

    Examples
    --------
    >>> importance = model.get_feature_importance()
    >>> si.pl.feature_importance(importance, "Mono_Classical", n_top=10)  # a panel per modality
    """
    import matplotlib.pyplot as plt

    rows = importance[importance["target"] == target]
    if rows.empty:
        raise UnknownNameError(
            f"Target {target!r} is not in the table; it has, e.g., "
            f"{importance['target'].unique()[:5].tolist()}."
        )
    modalities = list(dict.fromkeys(rows["modality"]))
    fig, axes = plt.subplots(
        1, len(modalities), figsize=(4.2 * len(modalities), 0.28 * n_top + 1.2), squeeze=False
    )
    for ax, modality in zip(axes[0], modalities, strict=True):
        top = rows[rows["modality"] == modality].nsmallest(n_top, "rank").iloc[::-1]
        colors = np.where(top["mean_shap"] >= 0, "#c0392b", "#2e6da4")
        ax.barh(top["feature"], top["mean_abs_shap"], color=colors)
        ax.set_xlabel("mean |SHAP value|")
        ax.set_title(f"{target} — {modality}")
    fig.tight_layout()
    return finish(fig, show, save, return_fig)


def beeswarm(
    explanation,
    target: int | str = 0,
    max_display: int = 15,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Figure | None:
    """``shap.plots.beeswarm`` of one target of a multi-target explanation.

    Parameters
    ----------
    explanation
        A :class:`shap.Explanation` from ``get_feature_importance(return_explanation=True)``
        (one modality; cells × features × targets).
    target
        Target index or name.
    max_display
        Features shown.
    show, save, return_fig
        As in scanpy.

    Examples
    --------
    >>> table, explanations = model.get_feature_importance(
    ...     target="NK", indices=nk_cells, return_explanation=True
    ... )
    >>> si.pl.beeswarm(explanations["protein"], "NK", max_display=12)
    """
    import matplotlib.pyplot as plt
    import shap

    if isinstance(target, str):
        target = list(explanation.output_names).index(target)
    shap.plots.beeswarm(explanation[:, :, target], max_display=max_display, show=False)
    return finish(plt.gcf(), show, save, return_fig)


def modality_share(
    share: pd.DataFrame,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Figure | None:
    """Stacked bars: what share of each target's attribution comes from each modality.

    Parameters
    ----------
    share
        From :func:`scvi_interpret.tl.modality_share` (targets × modalities, rows sum to 1).
    show, save, return_fig
        As in scanpy.

    Examples
    --------
    >>> importance = model.get_feature_importance()
    >>> si.pl.modality_share(si.tl.modality_share(importance))
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 0.3 * len(share) + 1.2))
    left = np.zeros(len(share))
    for modality in share.columns:
        ax.barh(share.index, share[modality], left=left, label=modality)
        left += share[modality].to_numpy()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of mean |SHAP value|")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return finish(fig, show, save, return_fig)


def deletion_curve(
    curve: pd.DataFrame,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Figure | None:
    """Output after removing the top-k attributed features vs k random ones.

    Parameters
    ----------
    curve
        From ``model.deletion_curve``.
    show, save, return_fig
        As in scanpy.

    Examples
    --------
    >>> curve = model.deletion_curve("NK")
    >>> si.pl.deletion_curve(curve)
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(curve["k"], curve["output_top"], marker="o", label="top-k by SHAP removed")
    ax.plot(curve["k"], curve["output_random"], marker="o", label="k random removed")
    ax.axhline(curve["output_full"].iloc[0], color="grey", linestyle=":", label="nothing removed")
    ax.set_xscale("log")
    ax.set_xlabel("features removed (k)")
    ax.set_ylabel("mean output")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return finish(fig, show, save, return_fig)
