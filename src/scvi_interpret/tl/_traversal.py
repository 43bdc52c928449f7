"""Latent traversal: decode while moving along one latent dimension at a time."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from scvi_interpret.errors import InvalidArgumentError


def latent_traversal(
    decode: Callable[[torch.Tensor], Mapping[str, torch.Tensor]],
    latent: np.ndarray,
    dims: Sequence[int],
    dim_names: Sequence[str],
    feature_names: Mapping[str, Sequence[str]],
    n_steps: int = 11,
    span: tuple[float, float] = (0.05, 0.95),
    directions: np.ndarray | None = None,
    pseudocount: float = 1e-6,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Move along each chosen latent dimension and record what every modality does.

    All other dimensions stay at the median cell's value; the chosen one moves over
    ``n_steps`` values from its ``span[0]`` to its ``span[1]`` quantile over the cells, i.e.
    within the range the posterior actually covers.

    Parameters
    ----------
    decode
        Maps latent points (m, n_latent) to ``{modality: expression (m, n_features)}`` (e.g.
        normalised expression).
    latent
        Posterior means of the cells, shape (n_cells, n_latent).
    dims
        Dimensions to traverse.
    dim_names
        Names of all dimensions (length n_latent).
    feature_names
        Feature names per modality.
    n_steps
        Points along each dimension (at least 2).
    span
        Lower and upper quantile of the cells' values.
    directions
        ±1 per dimension (length n_latent): walk towards higher ``direction * z`` (for
        sign-aligned program activities); default +1.
    pseudocount
        Added before taking logs.

    Returns
    -------
    table
        Tidy DataFrame with ``dimension, modality, feature, log2_fold_change`` (end vs start),
        ``max_abs_log2_change`` (largest change from the start along the way), ``monotonic``,
        ``rank`` (by ``|log2_fold_change|`` within dimension and modality).
    curves
        ``{modality: array (len(dims), n_steps, n_features)}``, the decoded expression.

    Examples
    --------
    A decoder in which dimension 0 raises gene "a" and lowers gene "b":

    >>> decode = lambda z: {"rna": torch.softmax(torch.stack([z[:, 0], -z[:, 0]], 1), 1)}
    >>> latent = np.random.default_rng(0).normal(size=(100, 2))
    >>> names = {"rna": ["a", "b"]}
    >>> table, curves = si.tl.latent_traversal(decode, latent, [0], ["z0", "z1"], names)
    >>> table[["dimension", "feature", "monotonic"]].sort_values("feature")
      dimension feature  monotonic
    0        z0       a       True
    1        z0       b       True
    >>> bool((table.set_index("feature").loc["a", "log2_fold_change"] > 0))
    True
    """
    if n_steps < 2:
        raise InvalidArgumentError(f"n_steps must be at least 2, got {n_steps}.")
    low, high = span
    if not 0 <= low < high <= 1:
        raise InvalidArgumentError(f"span must be two quantiles 0 <= low < high <= 1, got {span}.")
    directions = np.ones(latent.shape[1]) if directions is None else np.asarray(directions)
    center = np.median(latent, axis=0)
    steps: dict[str, list[np.ndarray]] = {m: [] for m in feature_names}
    for dim in dims:
        aligned = latent[:, dim] * directions[dim]
        grid = np.linspace(*np.quantile(aligned, [low, high]), n_steps) * directions[dim]
        points = np.repeat(center[None, :], n_steps, axis=0)
        points[:, dim] = grid
        with torch.no_grad():
            decoded = decode(torch.as_tensor(points, dtype=torch.float32))
        for modality in feature_names:
            steps[modality].append(decoded[modality].detach().cpu().numpy())
    curves = {m: np.stack(arrays) for m, arrays in steps.items()}  # (n_dims, n_steps, n_feat)
    frames = []
    for modality, names in feature_names.items():
        stacked = curves[modality]
        logs = np.log2(stacked + pseudocount)
        change = logs - logs[:, :1, :]
        steps = np.diff(logs, axis=1)
        monotonic = np.all(steps >= -1e-9, axis=1) | np.all(steps <= 1e-9, axis=1)
        for i, dim in enumerate(dims):
            frame = pd.DataFrame(
                {
                    "dimension": dim_names[dim],
                    "modality": modality,
                    "feature": list(names),
                    "log2_fold_change": change[i, -1],
                    "max_abs_log2_change": np.abs(change[i]).max(0),
                    "monotonic": monotonic[i],
                }
            )
            frame["rank"] = frame["log2_fold_change"].abs().rank(ascending=False, method="first")
            frames.append(frame.sort_values("rank"))
    table = pd.concat(frames, ignore_index=True)
    table["rank"] = table["rank"].astype(int)
    return table, curves
