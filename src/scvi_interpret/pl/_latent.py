"""Figures of latent traversal and archetypes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from scvi_interpret.errors import UnknownNameError

from ._figure import Save, finish, panels
from ._loadings import _heatmap, colour_group_labels, draw_heatmap, means_from_cells


def traversal_heatmap(
    traversal: pd.DataFrame,
    curves: dict[str, np.ndarray],
    dimension: str,
    modality: str = "rna",
    n_top: int = 15,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: Save = None,
    return_fig: bool = False,
) -> Figure | None:
    """Log2 change of the top features along one traversed dimension.

    Parameters
    ----------
    traversal, curves
        The table and curves from ``model.latent_traversal(return_curves=True)``.
    dimension
        The dimension to show.
    modality
        The modality to show.
    n_top
        Features (largest ``|log2_fold_change|``).
    ax, show, save, return_fig
        As in scanpy: draw into the given axes, show the figure, save it (``True``, a
        suffix, or a path), return it.

    Examples
    --------
    >>> walk, curves = model.latent_traversal(dims=["factor_0"], return_curves=True)
    >>> si.pl.traversal_heatmap(walk, curves, "factor_0", n_top=12)
    """
    rows = traversal[(traversal["modality"] == modality)]
    order = list(dict.fromkeys(rows["dimension"]))
    if dimension not in order:
        raise UnknownNameError(
            f"Dimension {dimension!r} was not traversed; traversed: {order[:5]}."
        )
    rows = rows[rows["dimension"] == dimension]
    top = rows.nsmallest(n_top, "rank")["feature"].tolist()
    features = list(rows.sort_index()["feature"])
    logs = np.log2(curves[modality][order.index(dimension)] + 1e-6)
    change = logs - logs[:1]
    columns = [features.index(f) for f in top]
    matrix = pd.DataFrame(
        change[:, columns].T, index=top, columns=[f"step {i}" for i in range(len(change))]
    )
    fig, owned = _heatmap(matrix, f"Traversal of {dimension}", "log2 change from start", ax)
    return finish(fig, show, save, return_fig, "traversal_heatmap", owned)


def archetypes(
    data,
    n_top: int = 5,
    modality: str = "rna",
    groupby: str | None = None,
    basis: str | None = None,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: Save = None,
    return_fig: bool = False,
) -> Figure | None:
    """Archetypes: what defines each (top features) and which labels sit near each.

    Parameters
    ----------
    data
        The result of ``model.get_archetypes`` (two panels: top features per archetype,
        mean weight per label), or, as ``sc.pl.*`` take it, an AnnData/MuData with the
        weights in ``.obsm[basis]`` (written by ``get_archetypes(key_added=basis)``) and
        labels in ``.obs[groupby]``: the mean weight per label, label colours from
        ``.uns[f"{groupby}_colors"]`` when present.
    n_top
        Features per archetype (largest positive log2 fold change vs the average cell).
    modality
        Modality of the features.
    groupby, basis
        ``.obs`` column of the labels and ``.obsm`` key of the weights (with an
        AnnData/MuData).
    ax, show, save, return_fig
        As in scanpy: draw into the given axes, show the figure, save it (``True``, a
        suffix, or a path), return it.

    Examples
    --------
    >>> arch = model.get_archetypes(key_added="archetypes")
    >>> si.pl.archetypes(arch, n_top=5)  # top genes per archetype, mean weight per label
    >>> si.pl.archetypes(arch, modality="protein", save="_protein.png")  # archetypes_protein.png
    >>> si.pl.archetypes(adata, groupby="leiden", basis="archetypes")  # any labels of the cells
    """
    if not hasattr(data, "top_features"):
        means, colours = means_from_cells(data, groupby, basis, standardize=False)
        fig, owned = _heatmap(
            means, "Mean weight per label", "weight", ax, cmap="viridis", limits=(0, 1)
        )
        colour_group_labels(fig, ax, owned, colours)
        return finish(fig, show, save, return_fig, "archetypes", owned)
    result = data
    table = result.top_features[result.top_features["modality"] == modality]
    names = list(result.weights.columns)
    top = [
        f
        for name in names
        for f in table[table["archetype"] == name].nlargest(n_top, "log2_fold_change")["feature"]
    ]
    top = list(dict.fromkeys(top))
    pivot = table.pivot_table(index="feature", columns="archetype", values="log2_fold_change")
    matrix = pivot.reindex(index=top, columns=names).fillna(0.0)
    n_panels = 2 if result.label_association is not None else 1
    fig, axes, owned = panels(ax, n_panels, (4 + 3.5 * n_panels, 0.25 * len(top) + 1.5))
    draw_heatmap(axes[0], matrix, "Top features vs average cell", "log2 fold change")
    if result.label_association is not None:
        draw_heatmap(
            axes[1], result.label_association, "Mean weight per label", "weight",
            cmap="viridis", limits=(0, 1),
        )  # fmt: skip
    if owned:
        fig.tight_layout()
    return finish(fig, show, save, return_fig, "archetypes", owned)
