"""Archetypal analysis of a latent space: a torch fit on a coreset, every cell projected."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from scvi_interpret.errors import InvalidArgumentError

from ._archetype_solver import convex_weights, fit_archetypes

PROJECTION_BATCH = 65_536


@dataclass
class ArchetypeFit:
    """Result of :func:`archetypal_analysis`.

    Attributes
    ----------
    archetypes
        Archetype positions in the latent space, shape (n_archetypes, n_latent).
    weights
        Each cell's convex weights on the archetypes, shape (n_cells, n_archetypes).
    explained_variance
        Explained variance for each number of archetypes tried, ``{k: value}`` (on the cells
        the fit used; with a coreset, its weighted estimate for all cells).
    n_archetypes
        The number used.
    n_fit_cells
        Cells the archetypes were fitted on (all, or the coreset).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> corners = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    >>> fit = si.tl.archetypal_analysis(rng.dirichlet(np.ones(3), 300) @ corners, n_archetypes=3)
    >>> fit.weights.shape, fit.archetypes.shape
    ((300, 3), (3, 2))
    """

    archetypes: np.ndarray
    weights: np.ndarray
    explained_variance: dict[int, float]
    n_archetypes: int
    n_fit_cells: int = 0


def coreset(latent: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A lightweight coreset (Bachem et al. 2018), as used for archetypes by Mair & Brefeld 2019.

    Cells are drawn with probability ``q_i = 1/(2n) + d_i² / (2 Σ d²)`` (``d_i``: distance to
    the mean, so extreme cells, where archetypes lie, are favoured) and weighted
    ``1 / (size · q_i)``: weighted sums over the coreset estimate sums over all cells.

    Returns
    -------
    ``(indices (size,), weights (size,))``.
    """
    squared = ((latent - latent.mean(0)) ** 2).sum(1)
    probability = 0.5 / len(latent) + 0.5 * squared / max(squared.sum(), 1e-300)
    probability /= probability.sum()
    picks = np.random.default_rng(seed).choice(len(latent), size, replace=True, p=probability)
    return picks, 1.0 / (size * probability[picks])


def _project(latent: np.ndarray, archetypes: torch.Tensor) -> tuple[np.ndarray, float]:
    """Every cell's convex weights, in batches; and the residual sum of squares."""
    weights, residual = [], 0.0
    for start in range(0, len(latent), PROJECTION_BATCH):
        points = torch.as_tensor(latent[start : start + PROJECTION_BATCH], dtype=archetypes.dtype)
        chunk = convex_weights(points, archetypes)
        residual += float(((points - chunk @ archetypes) ** 2).sum())
        weights.append(chunk.numpy())
    return np.concatenate(weights), residual


def archetypal_analysis(
    latent: np.ndarray,
    n_archetypes: int | None = None,
    max_archetypes: int = 10,
    min_gain: float = 0.02,
    seed: int = 0,
    coreset_size: int = 2000,
) -> ArchetypeFit:
    """Find the extreme states of a latent space and each cell's mixture of them.

    Archetypes are convex combinations of cells such that every cell is approximately a
    convex combination of archetypes (Cutler & Breiman 1994). They are fitted in torch by
    alternating projected gradients (PCHA, Mørup & Hansen 2012) from a FurthestSum start, on
    all cells or, beyond ``coreset_size`` cells, on a weighted lightweight coreset (extreme
    cells favoured); every cell is then projected onto the archetypes' simplex in batches.
    Without ``n_archetypes``, k = 2, 3, … are fitted and the first k after which one more
    archetype gains less than ``min_gain`` explained variance is kept. The cost grows with
    the cells only through the projection (linear, O(cells × k²) per iteration).

    Parameters
    ----------
    latent
        Cells × latent dimensions, shape (n_cells, n_latent).
    n_archetypes
        Number of archetypes; ``None`` chooses it as above.
    max_archetypes
        Largest number tried when choosing.
    min_gain
        Smallest gain in explained variance that justifies one more archetype.
    seed
        Random seed (coreset and start).
    coreset_size
        Cells the archetypes are fitted on when there are more.

    Returns
    -------
    :class:`ArchetypeFit`.

    Examples
    --------
    Cells that are mixtures of three extreme states; the fit finds the three corners.

    >>> rng = np.random.default_rng(0)
    >>> corners = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    >>> latent = rng.dirichlet(np.ones(3), size=500) @ corners
    >>> fit = si.tl.archetypal_analysis(latent, n_archetypes=3)
    >>> sorted(tuple(int(v) for v in row) for row in np.round(fit.archetypes))
    [(0, 0), (0, 4), (4, 0)]
    >>> bool(np.allclose(fit.weights.sum(1), 1))
    True
    """
    latent = np.asarray(latent, dtype=np.float64)
    if latent.ndim != 2 or not np.isfinite(latent).all():
        raise InvalidArgumentError(
            "latent must be a finite 2-d array (cells × latent dimensions)."
        )
    if n_archetypes is not None and not 2 <= n_archetypes <= len(latent):
        raise InvalidArgumentError(
            f"n_archetypes must be between 2 and {len(latent)}, got {n_archetypes}."
        )
    if n_archetypes is None and max_archetypes < 2:
        raise InvalidArgumentError(
            f"max_archetypes must be at least 2 (one archetype is the mean), got {max_archetypes}."
        )
    if coreset_size < 2:
        raise InvalidArgumentError(f"coreset_size must be at least 2, got {coreset_size}.")
    if len(latent) > coreset_size:
        picks, sample_weights = coreset(latent, coreset_size, seed)
    else:
        picks, sample_weights = np.arange(len(latent)), np.ones(len(latent))
    points = torch.as_tensor(latent[picks])
    sample_weights = torch.as_tensor(sample_weights)
    centred = torch.as_tensor(latent[picks] - latent.mean(0))
    total = float((sample_weights * (centred**2).sum(1)).sum())
    candidates = [n_archetypes] if n_archetypes else range(2, min(max_archetypes, len(picks)) + 1)
    explained, fits = {}, {}
    for k in candidates:
        archetypes, _, loss = fit_archetypes(points, k, sample_weights, seed=seed)
        fits[k], explained[k] = archetypes, 1.0 - loss / max(total, 1e-300)
        if n_archetypes is None and k > 2 and explained[k] - explained[k - 1] < min_gain:
            break
    chosen = n_archetypes or (k - 1 if k > 2 and explained[k] - explained[k - 1] < min_gain
                              else max(fits))  # fmt: skip
    weights, _ = _project(latent, fits[chosen])
    return ArchetypeFit(fits[chosen].numpy(), weights, explained, chosen, len(picks))
