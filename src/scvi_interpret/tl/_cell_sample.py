"""Stratified samples of cells that can grow in rounds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scvi_interpret.errors import ArgumentTypeError, InvalidArgumentError


def stratified_order(strata: Sequence, seed: int = 0) -> np.ndarray:
    """A random order of the cells in which every prefix is a proportional stratified sample.

    Within each stratum the cells are shuffled; the ``i``-th of a stratum of ``n_h`` cells is
    placed at ``(i + u) / n_h`` with ``u ~ U(0, 1)`` and the cells are sorted by place. The
    first ``n`` cells then hold ``n · n_h / N`` cells of each stratum, up to one, for every
    ``n``: a sample grown in rounds stays stratified, and its plain mean estimates the mean
    over all cells.

    Parameters
    ----------
    strata
        Stratum of each cell (any hashable labels), length ``n_cells``.
    seed
        Random seed.

    Returns
    -------
    Integer array, a permutation of ``0 … n_cells - 1``.

    Examples
    --------
    >>> strata = ["T"] * 900 + ["B"] * 100
    >>> order = si.tl.stratified_order(strata, seed=0)
    >>> sum(strata[i] == "B" for i in order[:50])
    5
    """
    codes, _ = pd.factorize(pd.Series(np.asarray(strata)))
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(codes))
    by_stratum = shuffled[np.argsort(codes[shuffled], kind="stable")]
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    sorted_codes = codes[by_stratum]
    within = np.arange(len(codes)) - starts[sorted_codes]
    place = (within + rng.random(len(codes))) / sizes[sorted_codes]
    return by_stratum[np.argsort(place, kind="stable")]


def round_sizes(n_available: int, first: int, largest: int) -> list[int]:
    """Cumulative sample sizes of rounds that double from ``first`` up to ``largest``.

    Parameters
    ----------
    n_available
        Cells that can be sampled (the last round stops there).
    first
        Size of the first round.
    largest
        Largest sample.

    Returns
    -------
    Increasing sizes, the last one ``min(largest, n_available)``.

    Examples
    --------
    >>> si.tl.round_sizes(n_available=10_000, first=1000, largest=6000)
    [1000, 2000, 4000, 6000]
    """
    stop = min(largest, n_available)
    sizes, size = [], min(first, stop)
    while size < stop:
        sizes.append(size)
        size *= 2
    return [*sizes, stop]


def check_sample_size(n_cells, n_available: int, name: str = "n_cells") -> int | str:
    """``n_cells`` if it is ``"auto"``, ``"all"`` or a size in ``[1, n_available]``; else raise.

    Examples
    --------
    >>> si.tl.check_sample_size(500, n_available=1000)
    500
    """
    if isinstance(n_cells, str):
        if n_cells in ("auto", "all"):
            return n_cells
        raise InvalidArgumentError(
            f'{name} must be "auto", "all" or a number of cells, not {n_cells!r}.'
        )
    if isinstance(n_cells, bool) or not isinstance(n_cells, int | np.integer):
        raise ArgumentTypeError(
            f'{name} must be "auto", "all" or a whole number, not {n_cells!r}.'
        )
    if n_cells < 1:
        raise InvalidArgumentError(f"{name}={n_cells}: at least one cell is needed.")
    if n_cells > n_available:
        raise InvalidArgumentError(
            f"{name}={n_cells} is more than the {n_available} cells there are; pass at most "
            f'{n_available}, or {name}="all" for every cell.'
        )
    return int(n_cells)
