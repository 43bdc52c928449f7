"""Differential activity of latent nodes between groups of cells, from the posteriors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import log_ndtr, ndtr

from scvi_interpret.errors import InvalidArgumentError


def posterior_fdr_calls(proba: np.ndarray, fdr_target: float) -> np.ndarray:
    """Largest set whose posterior expected false discovery rate stays below ``fdr_target``.

    The rule of scvi-tools' ``differential_expression`` (``_fdr_de_prediction``): tests sorted
    by decreasing probability, called while the mean of ``1 - proba`` stays at most
    ``fdr_target``.

    Parameters
    ----------
    proba
        Posterior probability of a change, shape (n_tests,).
    fdr_target
        Highest accepted expected share of false calls.

    Returns
    -------
    Boolean array of shape (n_tests,): the calls.

    Examples
    --------
    >>> proba = np.array([0.99, 0.98, 0.9, 0.6, 0.2])
    >>> si.tl.posterior_fdr_calls(proba, fdr_target=0.05)
    array([ True,  True,  True, False, False])
    """
    # scvi-tools' own posterior expected FDR rule (what its differential_expression uses)
    from scvi.model.base._de_core import _fdr_de_prediction

    proba = pd.Series(np.asarray(proba, dtype=float))
    return _fdr_de_prediction(proba, fdr=fdr_target).to_numpy()


@dataclass
class GroupMoments:
    """Sums over the cells of each group that the differential test needs.

    Built in one pass over minibatches (:meth:`add`), so memory is groups × nodes whatever
    the number of cells.

    Attributes
    ----------
    n
        Cells per group, ``{group: count}``.
    sums, squares, variances
        Per group, sums over its cells of the posterior means, their squares and the posterior
        variances, each of shape (n_nodes,).

    Examples
    --------
    >>> moments = si.tl.GroupMoments()
    >>> moments.add(np.array([[1.0], [3.0]]), np.full((2, 1), 0.1), ["a", "a"])
    >>> moments.n, moments.sums["a"]
    ({'a': 2}, array([4.]))
    """

    n: dict = field(default_factory=dict)
    sums: dict = field(default_factory=dict)
    squares: dict = field(default_factory=dict)
    variances: dict = field(default_factory=dict)

    def add(self, means: np.ndarray, variances: np.ndarray, groups: Sequence) -> None:
        """Add cells: posterior means and variances (n_cells, n_nodes), group of each cell."""
        means, variances = np.asarray(means, dtype=float), np.asarray(variances, dtype=float)
        codes, uniques = pd.factorize(pd.Series(np.asarray(groups, dtype=object)))
        for code, group in enumerate(uniques):
            rows = codes == code
            m, v = means[rows], variances[rows]
            self.n[group] = self.n.get(group, 0) + int(rows.sum())
            for store, value in ((self.sums, m), (self.squares, m * m), (self.variances, v)):
                store[group] = store.get(group, 0.0) + value.sum(0)

    def pooled(self, groups: Sequence) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """``(n, sum, sum of squares, sum of variances)`` over the given groups together."""
        return (
            sum(self.n[g] for g in groups),
            sum(self.sums[g] for g in groups),
            sum(self.squares[g] for g in groups),
            sum(self.variances[g] for g in groups),
        )


def _standardised_difference(first, second) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and sd of (mean z of group 1 − mean z of group 2) / pooled sd.

    ``first``, ``second``: ``(n, sum, sum of squares, sum of variances)`` of each group.
    """
    (n_1, s_1, q_1, v_1), (n_2, s_2, q_2, v_2) = first, second
    # each cell's z ~ N(m, v) independently: the group mean is normal with variance sum(v)/n²
    difference = s_1 / n_1 - s_2 / n_2
    difference_sd = np.sqrt(v_1 / n_1**2 + v_2 / n_2**2)
    # expected within-group variance of the sampled z: var of means + mean posterior variance
    within_1 = np.maximum(q_1 / n_1 - (s_1 / n_1) ** 2, 0.0) + v_1 / n_1
    within_2 = np.maximum(q_2 / n_2 - (s_2 / n_2) ** 2, 0.0) + v_2 / n_2
    pooled = np.sqrt((n_1 * within_1 + n_2 * within_2) / (n_1 + n_2))
    pooled = np.maximum(pooled, 1e-12)
    return difference / pooled, difference_sd / pooled


def differential_activity(
    means: np.ndarray,
    variances: np.ndarray,
    groups: Sequence,
    names: Sequence[str],
    group1: Sequence | None = None,
    group2: object | None = None,
    delta: float = 0.5,
    fdr_target: float = 0.05,
) -> pd.DataFrame:
    r"""Which latent nodes differ between groups of cells.

    Each cell's latent is normal under the posterior, :math:`z_i \sim N(m_i, v_i)`, so the
    difference of group means is normal too. Divided by the pooled within-group standard
    deviation :math:`\sigma`, it gives the standardised difference
    :math:`d = (\bar z_1 - \bar z_2)/\sigma` (Cohen's *d* of the latent), with posterior
    :math:`N(\mu_d, s_d^2)` in closed form. Reported: ``effect_size`` :math:`\mu_d`;
    ``proba_up`` :math:`P(d > 0)`; ``bayes_factor`` :math:`\log P(d>0) - \log P(d<0)`;
    ``proba_change`` :math:`P(|d| > \delta)`; ``is_changed``, the calls whose posterior
    expected false discovery rate is at most ``fdr_target`` (per comparison).

    Parameters
    ----------
    means, variances
        Posterior means and variances, shape (n_cells, n_nodes).
    groups
        Group of each cell, length n_cells.
    names
        Node names, length n_nodes.
    group1
        Groups to test; default every group.
    group2
        Group to compare against; default all other cells ("rest").
    delta
        Smallest standardised difference that counts as a change (0.5: a medium effect).
    fdr_target
        Target posterior expected false discovery rate.

    Returns
    -------
    Tidy DataFrame with one row per (group1, node) and columns ``group1``, ``group2``,
    ``program``, ``mean1``, ``mean2``, ``effect_size``, ``proba_up``, ``bayes_factor``,
    ``proba_change``, ``is_changed``; sorted by group1 and decreasing ``|effect_size|``.

    Examples
    --------
    Program activity of two groups of cells (posterior means and variances, cells × programs):

    >>> rng = np.random.default_rng(0)
    >>> means = rng.normal(size=(200, 2))
    >>> means[:100, 0] += 2.0  # program P0 is up in group "a"
    >>> groups = ["a"] * 100 + ["b"] * 100
    >>> table = si.tl.differential_activity(means, np.full((200, 2), 0.1), groups, ["P0", "P1"])
    >>> table.query("group1 == 'a'")[["program", "is_changed"]]
      program  is_changed
    0      P0        True
    1      P1       False
    """
    means, variances = np.asarray(means, dtype=float), np.asarray(variances, dtype=float)
    if len(groups) != len(means) or means.shape != variances.shape:
        raise InvalidArgumentError(
            f"groups ({len(groups)}), means {means.shape} and variances {variances.shape} "
            "must describe the same cells."
        )
    moments = GroupMoments()
    moments.add(means, variances, groups)
    return differential_activity_from_moments(
        moments, names, group1, group2, delta=delta, fdr_target=fdr_target
    )


def differential_activity_from_moments(
    moments: GroupMoments,
    names: Sequence[str],
    group1: Sequence | None = None,
    group2: object | None = None,
    delta: float = 0.5,
    fdr_target: float = 0.05,
) -> pd.DataFrame:
    """:func:`differential_activity` from per-group sums (:class:`GroupMoments`).

    The same statistics, exactly; the sums can be accumulated over minibatches of any
    number of cells.

    Examples
    --------
    >>> moments = si.tl.GroupMoments()
    >>> rng = np.random.default_rng(0)
    >>> for _ in range(4):  # four minibatches of 50 cells
    ...     means = rng.normal(size=(50, 1))
    ...     means[:25] += 3.0
    ...     moments.add(means, np.full((50, 1), 0.1), ["a"] * 25 + ["b"] * 25)
    >>> table = si.tl.differential_activity_from_moments(moments, ["P0"], group1="a")
    >>> bool(table.loc[0, "is_changed"])
    True
    """
    present = list(moments.n)
    if group1 is None:
        tested = present
    elif isinstance(group1, str) or not isinstance(group1, Iterable):
        tested = [group1]  # one group, not the characters of its name
    else:
        tested = list(group1)
    unknown = [g for g in [*tested, *([group2] if group2 is not None else [])] if g not in present]
    if unknown:
        raise InvalidArgumentError(f"Groups {unknown} do not occur; the groups are {present}.")
    frames = []
    for label in tested:
        others = [group2] if group2 is not None else [g for g in present if g != label]
        if not others or moments.pooled(others)[0] == 0:
            raise InvalidArgumentError(f"No cells to compare group {label!r} against.")
        first, second = moments.pooled([label]), moments.pooled(others)
        mu, sd = _standardised_difference(first, second)
        sd = np.maximum(sd, 1e-12)
        log_up, log_down = log_ndtr(mu / sd), log_ndtr(-mu / sd)
        proba_change = ndtr((mu - delta) / sd) + ndtr((-mu - delta) / sd)
        frame = pd.DataFrame(
            {
                "group1": label,
                "group2": "rest" if group2 is None else group2,
                "program": list(names),
                "mean1": first[1] / first[0],
                "mean2": second[1] / second[0],
                "effect_size": mu,
                "proba_up": np.exp(log_up),
                "bayes_factor": log_up - log_down,
                "proba_change": proba_change,
                "is_changed": posterior_fdr_calls(proba_change, fdr_target),
            }
        )
        frames.append(frame.sort_values("effect_size", key=np.abs, ascending=False))
    return pd.concat(frames, ignore_index=True)
