"""Archetypal analysis of a latent space (with the ``archetypes`` package)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
        Explained variance for each number of archetypes tried, ``{k: value}``.
    n_archetypes
        The number used.

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


def _fit(latent: np.ndarray, k: int, seed: int):
    import archetypes

    model = archetypes.AA(n_archetypes=k, n_init=3, max_iter=500, random_state=seed)
    model.fit(latent)
    weights = model.transform(latent)
    residual = latent - weights @ model.archetypes_
    total = ((latent - latent.mean(0)) ** 2).sum()
    return model.archetypes_, weights, 1.0 - float((residual**2).sum() / total)


def archetypal_analysis(
    latent: np.ndarray,
    n_archetypes: int | None = None,
    max_archetypes: int = 10,
    min_gain: float = 0.02,
    seed: int = 0,
) -> ArchetypeFit:
    """Find the extreme states of a latent space and each cell's mixture of them.

    Archetypes are convex combinations of cells such that every cell is approximately a
    convex combination of archetypes (Cutler & Breiman 1994), fitted with the ``archetypes``
    package. Without ``n_archetypes``, k = 2, 3, … are fitted and the first k after which one
    more archetype gains less than ``min_gain`` explained variance is kept.

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
        Random seed.

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
    if n_archetypes is not None:
        if not 2 <= n_archetypes <= len(latent):
            raise ValueError(
                f"n_archetypes must be between 2 and {len(latent)}, got {n_archetypes}."
            )
        positions, weights, variance = _fit(latent, n_archetypes, seed)
        return ArchetypeFit(positions, weights, {n_archetypes: variance}, n_archetypes)
    explained, fits = {}, {}
    for k in range(2, min(max_archetypes, len(latent)) + 1):
        fits[k] = _fit(latent, k, seed)
        explained[k] = fits[k][2]
        if k > 2 and explained[k] - explained[k - 1] < min_gain:
            chosen = k - 1
            break
    else:
        chosen = max(fits)
    positions, weights, _ = fits[chosen]
    return ArchetypeFit(positions, weights, explained, chosen)
