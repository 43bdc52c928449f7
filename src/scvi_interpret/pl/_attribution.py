"""Figures of feature importance: bars, beeswarm, modality share, deletion curve."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from scvi_interpret.errors import UnknownNameError

from ._figure import Save, finish, panels

# direction of a feature -> bar colour and legend text
COLOURS = {
    "high": ("#c0392b", "high value → target up"),
    "low": ("#2e6da4", "low value → target up"),
    "none": ("#9e9e9e", "no clear direction"),
    "mean_up": ("#c0392b", "mean SHAP > 0"),
    "mean_down": ("#2e6da4", "mean SHAP < 0"),
}


def feature_importance(
    importance: pd.DataFrame,
    target: str,
    n_top: int = 15,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: Save = None,
    return_fig: bool = False,
) -> Figure | None:
    """Bar chart of the top features of one target, one panel per modality.

    Bar length: mean absolute SHAP value. Colour: the feature's direction (column
    ``direction``): red when high values push the target up, blue when low values do (the
    feature's absence marks the target), grey without a clear direction; the legend says so.
    Tables without that column are coloured by the sign of the mean SHAP value. Panels keep
    one modality order for every target (the model's, the keys of
    ``attrs["modality_keys"]``; else sorted).

    Parameters
    ----------
    importance
        Table from ``model.get_feature_importance``.
    target
        The target to show.
    n_top
        Features per modality.
    ax, show, save, return_fig
        As in scanpy: draw into the given axes, show the figure, save it (``True``, a
        suffix, or a path), return it.

    Examples
    --------
    >>> importance = model.get_feature_importance()
    >>> si.pl.feature_importance(importance, "Mono_Classical", n_top=10)  # a panel per modality
    """
    rows = importance[importance["target"] == target]
    if rows.empty:
        raise UnknownNameError(
            f"Target {target!r} is not in the table; it has, e.g., "
            f"{importance['target'].unique()[:5].tolist()}."
        )
    present = set(rows["modality"])
    order = list(importance.attrs.get("modality_keys") or sorted(set(importance["modality"])))
    modalities = [m for m in order if m in present]
    fig, axes, owned = panels(ax, len(modalities), (4.2 * len(modalities), 0.28 * n_top + 1.6))
    for panel, modality in zip(axes, modalities, strict=True):
        top = rows[rows["modality"] == modality].nsmallest(n_top, "rank").iloc[::-1]
        if "direction" in top:
            kinds = top["direction"].to_numpy()
        else:
            kinds = np.where(top["mean_shap"] >= 0, "mean_up", "mean_down")
        panel.barh(top["feature"], top["mean_abs_shap"], color=[COLOURS[k][0] for k in kinds])
        panel.set_xlabel("mean |SHAP value|")
        panel.set_title(f"{target} — {modality}")
        shown = list(dict.fromkeys(kinds))
        panel.legend(handles=[Patch(color=COLOURS[k][0], label=COLOURS[k][1]) for k in shown],
                     fontsize="x-small", loc="lower right")  # fmt: skip
    if owned:
        fig.tight_layout()
    return finish(fig, show, save, return_fig, "feature_importance", owned)


def beeswarm(
    explanation,
    target: int | str = 0,
    max_display: int = 15,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: Save = None,
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
    ax, show, save, return_fig
        As in scanpy: draw into the given axes, show the figure, save it (``True``, a
        suffix, or a path), return it.

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
    if ax is not None:
        _, (ax,), _ = panels(ax, 1, (0, 0))
    shap.plots.beeswarm(explanation[:, :, target], max_display=max_display, show=False, ax=ax,
                        plot_size=None if ax is not None else "auto")  # fmt: skip
    fig = ax.figure if ax is not None else plt.gcf()
    return finish(fig, show, save, return_fig, "beeswarm", owned=ax is None)


def modality_share(
    share: pd.DataFrame,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: Save = None,
    return_fig: bool = False,
) -> Figure | None:
    """Stacked bars: what share of each target's attribution comes from each modality.

    Parameters
    ----------
    share
        From :func:`scvi_interpret.tl.modality_share` (targets × modalities, rows sum to 1).
    ax, show, save, return_fig
        As in scanpy: draw into the given axes, show the figure, save it (``True``, a
        suffix, or a path), return it.

    Examples
    --------
    >>> importance = model.get_feature_importance()
    >>> si.pl.modality_share(si.tl.modality_share(importance))
    """
    fig, (panel,), owned = panels(ax, 1, (5, 0.3 * len(share) + 1.2))
    left = np.zeros(len(share))
    for modality in share.columns:
        panel.barh(share.index, share[modality], left=left, label=modality)
        left += share[modality].to_numpy()
    panel.set_xlim(0, 1)
    panel.set_xlabel("share of mean |SHAP value|")
    panel.legend(loc="lower right", fontsize="small")
    if owned:
        fig.tight_layout()
    return finish(fig, show, save, return_fig, "modality_share", owned)


def deletion_curve(
    curve: pd.DataFrame,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: Save = None,
    return_fig: bool = False,
) -> Figure | None:
    """Output after removing the top-k attributed features vs k random ones.

    Parameters
    ----------
    curve
        From ``model.deletion_curve``.
    ax, show, save, return_fig
        As in scanpy: draw into the given axes, show the figure, save it (``True``, a
        suffix, or a path), return it.

    Examples
    --------
    >>> curve = model.deletion_curve("NK")
    >>> si.pl.deletion_curve(curve)
    """
    fig, (panel,), owned = panels(ax, 1, (4.5, 3.2))
    panel.plot(curve["k"], curve["output_top"], marker="o", label="top-k by SHAP removed")
    panel.plot(curve["k"], curve["output_random"], marker="o", label="k random removed")
    panel.axhline(curve["output_full"].iloc[0], color="grey", linestyle=":",
                  label="nothing removed")  # fmt: skip
    panel.set_xscale("log")
    panel.set_xlabel("features removed (k)")
    panel.set_ylabel("mean output")
    panel.legend(fontsize="small")
    if owned:
        fig.tight_layout()
    return finish(fig, show, save, return_fig, "deletion_curve", owned)
