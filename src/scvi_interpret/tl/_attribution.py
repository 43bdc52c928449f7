"""SHAP values by expected gradients (and in closed form for linear maps), streamed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from scvi_interpret.errors import InvalidArgumentError

from ._attribution_sums import AttributionSums
from ._linear_input_gradients import LinearInput, baseline_maps, linear_input_batch

# points × targets × features held at once while computing gradients (about 256 MB in float32)
_MAX_GRADIENT_ELEMENTS = 2**26


DIRECTION_THRESHOLD = 0.1  # |value–SHAP correlation| below this: no clear direction


@dataclass
class FeatureAttribution:
    """SHAP values of targets (model outputs) on input features, aggregated over cells.

    Attributes
    ----------
    targets, features
        Names, lengths ``n_targets`` and ``n_features``.
    mean_shap, mean_abs_shap
        Mean and mean absolute SHAP value over the explained cells, shape
        (n_targets, n_features).
    expected_value
        Mean output over the background, shape (n_targets,): the SHAP base value (averaged
        over the explained cells when it depends on a cell's covariates).
    additivity_error
        Mean over cells and targets of ``|sum_features(shap) - (f(x) - base value)|``,
        relative to the mean ``|f(x) - base value|``: 0 is exact.
    n_cells
        Number of explained cells.
    median_additivity_error
        Median over cells and targets of ``|sum_features(shap) - (f(x) - base value)|`` /
        ``|f(x) - base value|``.
    n_cells_per_target
        With one target per cell (``target_key``): how many cells explained each target,
        shape (n_targets,); the means are over those cells. Otherwise ``None``.
    values
        Per-cell SHAP values, shape (n_cells, n_targets, n_features), if kept; with one
        target per cell, (n_cells, 1, n_features).
    data
        The explained inputs, shape (n_cells, n_features), if ``values`` were kept.
    outputs
        f(x) of the explained cells, shape (n_cells, n_targets) (or (n_cells, 1)), if kept.
    base_values
        Each cell's base value, same shape as ``outputs``, if kept.
    cell_targets
        With one target per cell and kept values: each cell's target name, (n_cells,).
    rank_ci_low, rank_ci_high
        With a bootstrap: the 95 % percentile interval of each feature's rank within its
        target over resamplings of the explained cells, shape (n_targets, n_features).
    value_shap_correlation
        Correlation over the explained cells of each feature's value with its SHAP value,
        shape (n_targets, n_features): positive when high values push the target up,
        negative when low values do (NaN: no variation).

    Examples
    --------
    >>> fn = lambda x: x @ torch.tensor([[2.0], [-1.0]])  # one target, two features
    >>> result = si.tl.expected_gradients(fn, torch.ones(4, 2), torch.zeros(3, 2),
    ...                                   targets=["t"], features=["a", "b"], n_samples=6)
    >>> result.to_frame("rna")[["target", "feature", "mean_shap", "rank"]]
      target feature  mean_shap  rank
    0      t       a        2.0     1
    1      t       b       -1.0     2
    """

    targets: list[str]
    features: list[str]
    mean_shap: np.ndarray
    mean_abs_shap: np.ndarray
    expected_value: np.ndarray
    additivity_error: float
    n_cells: int
    median_additivity_error: float = float("nan")
    n_cells_per_target: np.ndarray | None = None
    values: np.ndarray | None = None
    data: np.ndarray | None = None
    outputs: np.ndarray | None = None
    base_values: np.ndarray | None = None
    cell_targets: np.ndarray | None = None
    rank_ci_low: np.ndarray | None = None
    rank_ci_high: np.ndarray | None = None
    value_shap_correlation: np.ndarray | None = None

    @property
    def explained_targets(self) -> np.ndarray:
        """Boolean mask over ``targets``: False for a target no explained cell has.

        With one target per cell (``n_cells_per_target``), a target no cell was explained for
        has no values; otherwise every target is explained.
        """
        if self.n_cells_per_target is None:
            return np.ones(len(self.targets), dtype=bool)
        return self.n_cells_per_target > 0

    def to_frame(self, modality: str | Sequence[str]) -> pd.DataFrame:
        """Tidy table: one row per (target, feature) with the DESIGN.md columns.

        Parameters
        ----------
        modality
            Name written in the ``modality`` column, or one name per feature.

        Returns
        -------
        DataFrame with ``target, modality, feature, mean_shap, mean_abs_shap, rank`` (rank 1 =
        largest mean absolute SHAP value within the target), ``modality_rank`` (the same
        within the target's features of one modality), ``n_cells`` (cells behind the
        target's means) and, with a bootstrap, ``rank_ci_low`` and ``rank_ci_high`` (95 %
        interval of ``rank``), sorted by target then rank. With the explained inputs,
        ``value_shap_correlation`` and ``direction``: ``"high"`` when high values of the
        feature push the target up, ``"low"`` when low values do (the feature's absence
        marks the target), ``"none"`` when the correlation is within ±0.1. With one target per
        cell, targets no explained cell has get no rows.
        """
        n_targets, n_features = self.mean_shap.shape
        modalities = [modality] * n_features if isinstance(modality, str) else list(modality)
        if len(modalities) != n_features:
            raise InvalidArgumentError(
                f"{len(modalities)} modality names for {n_features} features."
            )
        frame = pd.DataFrame(
            {
                "target": np.repeat(self.targets, n_features),
                "modality": np.tile(modalities, n_targets),
                "feature": np.tile(self.features, n_targets),
                "mean_shap": self.mean_shap.ravel(),
                "mean_abs_shap": self.mean_abs_shap.ravel(),
            }
        )
        per_target = (
            np.full(n_targets, self.n_cells)
            if self.n_cells_per_target is None
            else self.n_cells_per_target
        )
        for column, keys in (("rank", ["target"]), ("modality_rank", ["target", "modality"])):
            frame[column] = (
                frame.groupby(keys, sort=False)["mean_abs_shap"]
                .rank(ascending=False, method="first")
                .astype(int)
            )
        frame["n_cells"] = np.repeat(per_target, n_features)
        if self.rank_ci_low is not None:
            frame["rank_ci_low"] = self.rank_ci_low.ravel()
            frame["rank_ci_high"] = self.rank_ci_high.ravel()
        if self.value_shap_correlation is not None:
            correlation = self.value_shap_correlation.ravel()
            frame["value_shap_correlation"] = correlation
            frame["direction"] = np.select(
                [correlation > DIRECTION_THRESHOLD, correlation < -DIRECTION_THRESHOLD],
                ["high", "low"], default="none",
            )  # fmt: skip
        frame = frame[frame["target"].isin(np.asarray(self.targets)[self.explained_targets])]
        order = {t: i for i, t in enumerate(self.targets)}
        frame["_order"] = frame["target"].map(order)
        return frame.sort_values(["_order", "rank"]).drop(columns="_order").reset_index(drop=True)

    def to_explanation(self):
        """The per-cell values as a :class:`shap.Explanation` (cells × features × targets).

        Use ``explanation[:, :, target_index]`` for the single-output plots
        (``shap.plots.beeswarm``, ``shap.plots.bar``, …).
        """
        if self.values is None:
            raise InvalidArgumentError(
                "Per-cell values were not kept; compute with keep_values=True."
            )
        import shap

        if self.cell_targets is not None:  # one target per cell: a single-output explanation
            return shap.Explanation(
                values=self.values[:, 0, :],
                base_values=self.base_values[:, 0],
                data=self.data,
                feature_names=list(self.features),
            )
        return shap.Explanation(
            values=np.transpose(self.values, (0, 2, 1)),
            base_values=self.base_values,
            data=self.data,
            feature_names=list(self.features),
            output_names=list(self.targets),
        )


def stratified_background(
    labels: Sequence | None, n_cells: int, size: int, seed: int = 0
) -> np.ndarray:
    """Indices of a background sample stratified over labels.

    Each label gets a share of ``size`` proportional to its frequency, and at least one cell
    while ``size`` allows; without labels the sample is uniform.

    Parameters
    ----------
    labels
        Label of each cell (length ``n_cells``), or ``None``.
    n_cells
        Number of cells to sample from.
    size
        Background size.
    seed
        Random seed.

    Returns
    -------
    Sorted integer array of length ``size``.

    Examples
    --------
    >>> labels = ["T"] * 90 + ["B"] * 10
    >>> picks = si.tl.stratified_background(labels, n_cells=100, size=10, seed=0)
    >>> len(picks), sorted({labels[i] for i in picks})
    (10, ['B', 'T'])
    """
    if size > n_cells:
        raise InvalidArgumentError(
            f"n_background={size} is larger than the {n_cells} cells available; "
            "choose at most that many."
        )
    if size < 1:
        raise InvalidArgumentError(f"n_background must be at least 1, got {size}.")
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(n_cells, size=size, replace=False))
    codes, uniques = pd.factorize(pd.Series(np.asarray(labels)), sort=True)
    counts = np.bincount(codes, minlength=len(uniques))
    quota = np.floor(counts / counts.sum() * size).astype(int)
    if size >= len(uniques):
        quota = np.maximum(quota, 1)
    while quota.sum() > size:
        quota[np.argmax(quota)] -= 1
    remainder = counts - quota
    while quota.sum() < size:
        quota[np.argmax(remainder / counts.clip(1) + rng.random(len(counts)) * 1e-9)] += 1
        remainder = counts - quota
    picks = [
        rng.choice(np.flatnonzero(codes == c), size=min(q, counts[c]), replace=False)
        for c, q in enumerate(quota)
        if q > 0
    ]
    return np.sort(np.concatenate(picks))


def _batched(x: torch.Tensor, batch_size: int) -> Iterable[tuple[torch.Tensor, dict]]:
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size], {}


def expected_gradients(
    fn: Callable[..., torch.Tensor],
    inputs: torch.Tensor | Iterable[tuple[torch.Tensor, dict[str, torch.Tensor]]],
    background: torch.Tensor,
    targets: Sequence[str],
    features: Sequence[str],
    n_samples: int = 64,
    batch_size: int = 64,
    seed: int = 0,
    keep_values: bool = False,
    target_key: str | None = None,
    n_bootstrap: int = 0,
    sums: AttributionSums | None = None,
    linear_input: LinearInput | None = None,
    rank_intervals: bool = True,
) -> FeatureAttribution:
    r"""SHAP values by expected gradients, the estimator behind ``shap.GradientExplainer``.

    For a cell :math:`x`, baselines :math:`x'` from the background (each background cell used
    equally often) and :math:`\alpha \sim U(0, 1)`:
    :math:`\phi_j = E[(x_j - x'_j)\, \partial_j f(x' + \alpha (x - x'))]`, for every target
    at once, with ``n_samples`` gradient evaluations per cell. When ``n_samples`` is a
    multiple :math:`k > 1` of the background size, every background cell's path is
    integrated at the :math:`k` Gauss–Legendre nodes (the expectation over baselines is then
    exact and only the quadrature errs, which falls fast with :math:`k` for smooth outputs);
    otherwise the :math:`\alpha` are stratified over ``n_samples`` equal slices of [0, 1)
    (unbiased, lower variance than uniform draws). The values sum to
    :math:`f(x) - E[f(x')]` up to that error, reported as ``additivity_error``. The
    per-cell keyword tensors (covariates such as the batch) are held at the explained cell's
    values along the whole path and in :math:`E[f(x')]`, so only the features are attributed.
    Cells are streamed: only the sums over cells are kept unless ``keep_values``.

    Parameters
    ----------
    fn
        Maps inputs of shape (m, n_features), plus per-row keyword tensors, to outputs of
        shape (m, n_targets). It must be differentiable in its first argument.
    inputs
        The cells to explain: a tensor (n_cells, n_features), or an iterable of
        ``(x, extra)`` minibatches where ``extra`` holds per-cell tensors passed to ``fn``
        (e.g. batch codes; they are repeated for each sample of a cell).
    background
        Background cells, shape (n_background, n_features), on ``fn``'s device.
    targets, features
        Names of the outputs and inputs.
    n_samples
        Gradient evaluations per cell (baseline × path position pairs).
    batch_size
        Cells per minibatch when ``inputs`` is a tensor.
    seed
        Random seed of the draws.
    keep_values
        Also return per-cell values (memory n_cells × n_targets × n_features).
    target_key
        If given, each minibatch's ``extra[target_key]`` (integer tensor (n_cells,)) names the
        one output to explain for each cell (e.g. its predicted class): one gradient pass
        instead of one per target; the means per target are over the cells that explain it.
        The key is not passed to ``fn``.
    n_bootstrap
        Poisson bootstrap replicates over cells (0: none); with them the result has rank
        confidence intervals (``rank_ci_low``, ``rank_ci_high``).
    sums
        An :class:`~scvi_interpret.tl.AttributionSums` to add to (e.g. one per sampling round
        of the same estimate); the result then covers every cell added so far. Its settings
        (``n_bootstrap``, ``keep_values``, one target per cell) take precedence.
    linear_input
        When ``fn`` starts with linear maps of its inputs (an encoder's first layer), that
        description: the same estimate (same draws) is then computed on the layer's
        pre-activations, without the cells × samples × features points; about 20× fewer
        operations for wide inputs (:class:`~scvi_interpret.tl.LinearInput`).
    rank_intervals
        Compute the bootstrap rank intervals (with ``n_bootstrap``); ``False`` skips them in
        intermediate rounds that add to the same ``sums``.

    Returns
    -------
    :class:`FeatureAttribution`.

    Examples
    --------
    For a linear function SHAP values are exact: weight × (input − background mean).

    >>> weight = torch.tensor([[1.0, 0.0], [0.5, 2.0], [0.0, -1.0]])  # 3 features → 2 targets
    >>> fn = lambda x: x @ weight
    >>> cells, background = torch.ones(5, 3), torch.zeros(10, 3)
    >>> result = si.tl.expected_gradients(
    ...     fn, cells, background, targets=["t0", "t1"], features=["g0", "g1", "g2"],
    ...     n_samples=20, keep_values=True,
    ... )
    >>> result.values[0]  # cell 0: targets × features
    array([[ 1. ,  0.5,  0. ],
           [ 0. ,  2. , -1. ]], dtype=float32)
    >>> result.additivity_error < 1e-6
    True
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    device = background.device
    n_targets, n_features = len(targets), len(features)
    if background.shape[1] != n_features:
        raise InvalidArgumentError(
            f"background has {background.shape[1]} features, expected {n_features}."
        )
    if isinstance(inputs, torch.Tensor):
        inputs = _batched(inputs, batch_size)
    if sums is None:
        sums = AttributionSums(n_targets, n_features, target_key is not None, n_bootstrap,
                               seed, device, keep_values)  # fmt: skip
    background_hidden = maps = None
    if linear_input is not None:
        with torch.no_grad():
            background_hidden = linear_input.pre_activation(background)
            maps = baseline_maps(linear_input, background)
    for x, extra in inputs:
        x = x.to(device)
        extra = dict(extra)
        chosen = None if target_key is None else extra.pop(target_key).to(device).long()
        if linear_input is None:
            phi = _expected_gradients_batch(fn, x, extra, background, n_samples, generator, chosen)
        else:
            paths = draw_paths(len(x), n_samples, len(background), generator, x)
            phi = linear_input_batch(
                linear_input, x, extra, background_hidden, maps, paths, chosen
            )
        with torch.no_grad():
            output = fn(x, **extra)
            if linear_input is None:
                base = _base_values(fn, background, extra, len(x))
            else:  # the same, from the background's pre-activations
                base = _base_values(linear_input.rest, background_hidden, extra, len(x))
        if chosen is not None:
            output, base = output.gather(1, chosen[:, None]), base.gather(1, chosen[:, None])
        sums.add(phi, output, base, chosen, x)
    if sums.n_cells == 0:
        raise InvalidArgumentError("No cells to explain.")
    return attribution_from_sums(sums, targets, features, rank_intervals)


def attribution_from_sums(
    sums: AttributionSums,
    targets: Sequence[str],
    features: Sequence[str],
    rank_intervals: bool = True,
) -> FeatureAttribution:
    """The :class:`FeatureAttribution` of what ``sums`` holds so far.

    ``rank_intervals=False`` leaves ``rank_ci_low``/``rank_ci_high`` empty (``None``).
    """
    counts = sums.counts()
    stacked = {
        key: np.concatenate(parts) if sums.keep_values and parts else None
        for key, parts in sums.kept.items()
    }
    if stacked["targets"] is not None:
        stacked["targets"] = np.asarray(targets)[stacked["targets"]]
    low = high = None
    if sums.n_bootstrap and rank_intervals:
        low, high = sums.rank_intervals()
    return FeatureAttribution(
        targets=list(targets),
        features=list(features),
        mean_shap=(sums.sums / counts[:, None]).cpu().numpy(),
        mean_abs_shap=sums.mean_abs_shap(),
        expected_value=(sums.base_sum / counts).cpu().numpy(),
        additivity_error=sums.error_sum / max(sums.gap_sum, 1e-12),
        n_cells=sums.n_cells,
        median_additivity_error=sums.median_relative_error(),
        n_cells_per_target=(
            sums.per_target.cpu().numpy().astype(int) if sums.per_cell_target else None
        ),
        values=stacked["values"],
        data=stacked["data"],
        outputs=stacked["outputs"],
        base_values=stacked["base"],
        cell_targets=stacked["targets"],
        rank_ci_low=low,
        rank_ci_high=high,
        value_shap_correlation=sums.value_shap_correlation(),
    )


def _base_values(fn, background: torch.Tensor, extra: dict, n_cells: int) -> torch.Tensor:
    """E over the background of f, with each cell's own keyword tensors: (n_cells, n_targets)."""
    if not extra:
        return fn(background).mean(0, keepdim=True).expand(n_cells, -1)
    n_background = len(background)
    tiled = background.repeat(n_cells, 1)
    repeated = {k: v.repeat_interleave(n_background, dim=0) for k, v in extra.items()}
    return fn(tiled, **repeated).reshape(n_cells, n_background, -1).mean(1)


def draw_paths(
    n_cells: int, n_samples: int, n_background: int, generator, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Baselines and path positions of expected gradients for a minibatch.

    Returns
    -------
    ``picks`` (n_cells, n_samples): background row of each sample; ``alpha``
    (n_cells, n_samples, 1): path positions, on ``like``'s device and dtype; ``weights``
    (n_samples,) of the Gauss–Legendre quadrature, or ``None`` for stratified draws.
    """
    # balanced baselines: every background cell is used equally often (±1) for each cell, so
    # the baseline average matches the background's; the order is random per cell
    cycles = -(-n_samples // n_background)
    shuffled = torch.argsort(torch.rand(n_cells, cycles, n_background, generator=generator), -1)
    picks = shuffled.reshape(n_cells, -1)[:, :n_samples]
    # path positions. When every background cell is used the same number of times (n_samples
    # a multiple k > 1 of the background size), each one's path is integrated at the k
    # Gauss-Legendre nodes of [0, 1] (cycle c uses node c, weighted). Otherwise one alpha in
    # each of n_samples equal slices, in random order (unbiased, lower variance than uniform).
    weights = None
    if cycles > 1 and n_samples == cycles * n_background:
        nodes, node_weights = np.polynomial.legendre.leggauss(cycles)
        slices = torch.arange(n_samples) // n_background
        alpha = torch.as_tensor((nodes + 1) / 2, dtype=torch.float32)[slices].expand(n_cells, -1)
        weights = torch.as_tensor(node_weights / 2 * cycles, dtype=like.dtype)[slices]
        weights = weights.to(like.device)
    else:
        jitter = torch.rand(n_cells, n_samples, generator=generator)
        order = torch.argsort(torch.rand(n_cells, n_samples, generator=generator), dim=1)
        alpha = (order + jitter) / n_samples
    return picks, alpha.unsqueeze(-1).to(like.device, like.dtype), weights


def _expected_gradients_batch(
    fn,
    x: torch.Tensor,
    extra: dict,
    background: torch.Tensor,
    n_samples: int,
    generator,
    chosen: torch.Tensor | None = None,
) -> torch.Tensor:
    """SHAP values of one minibatch, shape (n_cells, n_targets, n_features).

    With ``chosen`` (one output index per cell), shape (n_cells, 1, n_features).
    """
    n_cells, n_features = x.shape
    picks, alpha, weights = draw_paths(n_cells, n_samples, len(background), generator, x)
    baselines = background[picks.to(background.device)]  # (n_cells, n_samples, n_features)
    delta = x[:, None, :] - baselines
    points = (baselines + alpha * delta).reshape(-1, n_features).requires_grad_(True)
    repeated = {k: v.repeat_interleave(n_samples, dim=0) for k, v in extra.items()}
    with torch.enable_grad():
        outputs = fn(points, **repeated)  # (n_cells * n_samples, n_targets)
        if chosen is not None:
            outputs = outputs.gather(1, chosen.repeat_interleave(n_samples)[:, None])
        n_targets = outputs.shape[1]
        chunk = max(1, _MAX_GRADIENT_ELEMENTS // max(1, points.numel()))
        phi = torch.empty(n_cells, n_targets, n_features, dtype=x.dtype, device=x.device)
        for start in range(0, n_targets, chunk):
            stop = min(start + chunk, n_targets)
            seeds = torch.zeros(stop - start, *outputs.shape, dtype=outputs.dtype, device=x.device)
            seeds[torch.arange(stop - start), :, torch.arange(start, stop)] = 1.0
            (grads,) = torch.autograd.grad(
                outputs, points, grad_outputs=seeds, is_grads_batched=True, retain_graph=True
            )
            grads = grads.reshape(stop - start, n_cells, n_samples, n_features)
            if weights is not None:
                grads = grads * weights[None, None, :, None]
            phi[:, start:stop] = (grads * delta[None]).mean(2).permute(1, 0, 2)
    return phi.detach()


def linear_shap(
    weight: torch.Tensor, x: torch.Tensor, background_mean: torch.Tensor
) -> torch.Tensor:
    """Exact SHAP values of a linear map ``f(x) = x @ weight.T + b``.

    Parameters
    ----------
    weight
        Shape (n_targets, n_features).
    x
        Inputs, shape (n_cells, n_features).
    background_mean
        Mean background input, shape (n_features,).

    Returns
    -------
    Tensor of shape (n_cells, n_targets, n_features): ``weight[t, j] * (x_j - mean_j)``.

    Examples
    --------
    >>> weight = torch.tensor([[1.0, 0.5, 0.0], [0.0, 2.0, -1.0]])  # targets × features
    >>> si.tl.linear_shap(weight, torch.ones(1, 3), torch.zeros(3))
    tensor([[[ 1.0000,  0.5000,  0.0000],
             [ 0.0000,  2.0000, -1.0000]]])
    """
    return weight[None, :, :] * (x - background_mean)[:, None, :]


def modality_share(importance: pd.DataFrame) -> pd.DataFrame:
    """Share of each target's attribution that comes from each modality.

    Parameters
    ----------
    importance
        Table from ``get_feature_importance`` (columns ``target``, ``modality``,
        ``mean_abs_shap``).

    Returns
    -------
    DataFrame targets × modalities; each row sums to 1 (sum of mean absolute SHAP values of
    the modality's features over the sum over all features).

    Examples
    --------
    >>> importance = pd.DataFrame({
    ...     "target": ["B", "B", "B"], "modality": ["rna", "rna", "protein"],
    ...     "feature": ["MS4A1", "CD79A", "CD19"], "mean_abs_shap": [0.2, 0.1, 0.1],
    ... })
    >>> si.tl.modality_share(importance)
    modality   rna  protein
    target
    B         0.75     0.25
    """
    totals = importance.pivot_table(
        index="target", columns="modality", values="mean_abs_shap", aggfunc="sum", sort=False
    )
    return totals.div(totals.sum(axis=1), axis=0)
