"""Streaming sums of SHAP values over cells, with a Poisson bootstrap of the ranking.

Memory is fixed by targets × features (× bootstrap replicates), never by the number of cells,
so a global importance can be accumulated over any number of minibatches (and rounds).
"""

from __future__ import annotations

import numpy as np
import torch

from scvi_interpret.errors import InvalidArgumentError

# relative additivity errors are binned on a log10 grid to stream their median
_LOG_ERROR_EDGES = np.linspace(-12.0, 6.0, 1801)


class AttributionSums:
    """Running sums of per-cell SHAP values over cells, for every (target, feature).

    Parameters
    ----------
    n_targets, n_features
        Shape of one cell's SHAP values.
    per_cell_target
        Each cell explains one target (its own); the means of a target are over its cells.
    n_bootstrap
        Poisson bootstrap replicates of the mean absolute SHAP values (0: none). Each cell gets
        a Poisson(1) weight per replicate (the streaming form of resampling cells with
        replacement), so rank intervals need no per-cell values.
    seed
        Seed of the bootstrap weights.
    device
        Where the sums live (the model's device).
    keep_values
        Keep per-cell values (memory grows with the cells).

    Examples
    --------
    Feature 0 matters most in every cell, so its rank holds under any resampling:

    >>> sums = si.tl.AttributionSums(n_targets=1, n_features=3, n_bootstrap=50)
    >>> phi = torch.tensor([[[3.0, 1.0, 0.5]], [[2.5, 0.2, 1.0]]])  # cells × targets × features
    >>> sums.add(phi, output=phi.sum(-1), base=torch.zeros(2, 1))
    >>> sums.mean_abs_shap().round(2)
    array([[2.75, 0.6 , 0.75]])
    >>> low, high = sums.rank_intervals()
    >>> int(low[0, 0]), int(high[0, 0])
    (1, 1)
    """

    def __init__(
        self,
        n_targets: int,
        n_features: int,
        per_cell_target: bool = False,
        n_bootstrap: int = 0,
        seed: int = 0,
        device: torch.device | str = "cpu",
        keep_values: bool = False,
    ):
        self.per_cell_target, self.n_bootstrap, self.keep_values = (
            per_cell_target, n_bootstrap, keep_values
        )  # fmt: skip
        shape = (n_targets, n_features)
        self.sums = torch.zeros(shape, dtype=torch.float64, device=device)
        self.abs_sums = torch.zeros(shape, dtype=torch.float64, device=device)
        self.base_sum = torch.zeros(n_targets, dtype=torch.float64, device=device)
        self.per_target = torch.zeros(n_targets, dtype=torch.float64, device=device)
        self.boot_abs_sums = torch.zeros(n_bootstrap, *shape, dtype=torch.float32, device=device)
        self.boot_counts = torch.zeros(n_bootstrap, n_targets, dtype=torch.float64, device=device)
        # Σx, Σx², Σφ, Σφ², Σxφ per (target, feature): the value–SHAP correlation (direction)
        self.moments = torch.zeros(5, *shape, dtype=torch.float64, device=device)
        self.has_inputs = False
        self.error_sum = self.gap_sum = 0.0
        self.n_cells = 0
        self.error_histogram = np.zeros(len(_LOG_ERROR_EDGES) + 1, dtype=np.int64)
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.kept: dict[str, list[np.ndarray]] = {
            "values": [], "data": [], "outputs": [], "base": [], "targets": []
        }  # fmt: skip

    def add(
        self,
        phi: torch.Tensor,
        output: torch.Tensor,
        base: torch.Tensor,
        chosen: torch.Tensor | None = None,
        x: torch.Tensor | None = None,
    ) -> None:
        """Add one minibatch.

        Parameters
        ----------
        phi
            SHAP values, shape (n_cells, n_targets, n_features), or (n_cells, 1, n_features)
            with ``chosen``.
        output, base
            f(x) and the base value of each cell, shape (n_cells, n_targets) (or (n_cells, 1)).
        chosen
            With one target per cell: its index, shape (n_cells,).
        x
            The explained inputs (kept with the values).
        """
        gap = output - base
        error = (phi.sum(-1) - gap).abs()
        self.error_sum += float(error.sum())
        self.gap_sum += float(gap.abs().sum())
        relative = (error / gap.abs().clamp(min=1e-12)).flatten().double().cpu().numpy()
        bins = np.searchsorted(_LOG_ERROR_EDGES, np.log10(np.maximum(relative, 1e-300)))
        self.error_histogram += np.bincount(bins, minlength=len(self.error_histogram))
        n_cells, device = len(phi), self.sums.device
        if chosen is None:
            self.sums += phi.sum(0).double()
            self.abs_sums += phi.abs().sum(0).double()
            self.base_sum += base.sum(0).double()
            self.per_target += n_cells
        else:
            self.sums.index_add_(0, chosen, phi[:, 0].double())
            self.abs_sums.index_add_(0, chosen, phi[:, 0].abs().double())
            self.base_sum.index_add_(0, chosen, base[:, 0].double())
            self.per_target.index_add_(0, chosen, torch.ones(n_cells, dtype=torch.float64,
                                                              device=device))  # fmt: skip
        if self.n_bootstrap:
            weights = torch.poisson(
                torch.ones(n_cells, self.n_bootstrap), generator=self.generator
            ).to(device)
            if chosen is None:
                self.boot_abs_sums += torch.einsum("cb,ctf->btf", weights, phi.abs().float())
                self.boot_counts += weights.sum(0, dtype=torch.float64)[:, None]
            else:
                onehot = torch.nn.functional.one_hot(chosen, self.sums.shape[0]).float()
                abs_phi = phi[:, 0].abs().float()
                for target in torch.unique(chosen).tolist():  # one (B, C_t) @ (C_t, F) each
                    rows = chosen == target
                    self.boot_abs_sums[:, target] += weights[rows].T @ abs_phi[rows]
                self.boot_counts += (weights.T @ onehot).double()
        if x is not None:
            self._add_moments(phi, x, chosen)
        self.n_cells += n_cells
        if self.keep_values:
            for key, value in zip(self.kept, (phi, x, output, base), strict=False):
                self.kept[key].append(value.cpu().numpy())
            if chosen is not None:
                self.kept["targets"].append(chosen.cpu().numpy())

    def _add_moments(self, phi: torch.Tensor, x: torch.Tensor, chosen) -> None:
        """Accumulate the sums behind :meth:`value_shap_correlation`."""
        self.has_inputs = True
        x = x.float()
        if chosen is None:
            phi = phi.float()
            parts = (x.sum(0)[None], (x * x).sum(0)[None], phi.sum(0), (phi * phi).sum(0),
                     torch.einsum("cf,ctf->tf", x, phi))  # fmt: skip
            for moment, part in zip(self.moments, parts, strict=True):
                moment += part.double()
            return
        phi = phi[:, 0].float()
        for moment, part in zip(self.moments, (x, x * x, phi, phi * phi, x * phi), strict=True):
            moment.index_add_(0, chosen, part.double())

    # ---------------------------------------------------------------- reading
    def value_shap_correlation(self) -> np.ndarray | None:
        """Pearson correlation of each feature's value with its SHAP value over the cells.

        Positive: high values of the feature push the target up (as shap's beeswarm colours
        it); negative: low values do. NaN where the feature or its SHAP values are constant.
        Shape (n_targets, n_features); ``None`` when no inputs were given.
        """
        if not self.has_inputs:
            return None
        n = self.per_target[:, None]
        sx, sxx, ss, sss, sxs = self.moments
        covariance = n * sxs - sx * ss
        scale = ((n * sxx - sx * sx).clamp(min=0) * (n * sss - ss * ss).clamp(min=0)).sqrt()
        tolerance = 1e-9 * (n * n * (sxx.abs() + 1) * (sss.abs() + 1)).sqrt()
        correlation = torch.where(scale > tolerance, covariance / scale.clamp(min=1e-300),
                                  torch.full_like(scale, float("nan")))  # fmt: skip
        return correlation.clamp(-1, 1).cpu().numpy()

    # ---------------------------------------------------------------- reading totals
    def counts(self) -> torch.Tensor:
        """Cells behind each target's means, shape (n_targets,) (at least 1)."""
        return self.per_target.clamp(min=1)

    def mean_abs_shap(self) -> np.ndarray:
        """Mean absolute SHAP values so far, shape (n_targets, n_features)."""
        return (self.abs_sums / self.counts()[:, None]).cpu().numpy()

    def median_relative_error(self) -> float:
        """Median relative additivity error (to 1/100 of a decade)."""
        total = self.error_histogram.sum()
        if total == 0:
            return float("nan")
        position = int(np.searchsorted(np.cumsum(self.error_histogram), total / 2))
        edges = np.concatenate([[_LOG_ERROR_EDGES[0]], _LOG_ERROR_EDGES])
        return float(10 ** edges[min(position, len(edges) - 1)])

    def _bootstrap_means(self) -> torch.Tensor:
        """Mean |SHAP| of each replicate, shape (B, targets, features)."""
        if not self.n_bootstrap:
            raise InvalidArgumentError("No bootstrap replicates were accumulated (n_bootstrap=0).")
        return self.boot_abs_sums / self.boot_counts.clamp(min=1)[:, :, None].float()

    def _bootstrap_rank_tensor(self) -> torch.Tensor:
        """Rank (1 = most important) of each feature in each replicate, (B, targets, features)."""
        order = torch.argsort(self._bootstrap_means(), dim=-1, descending=True)
        ranks = torch.empty_like(order)
        positions = torch.arange(1, order.shape[-1] + 1, device=order.device)
        ranks.scatter_(-1, order, positions.expand_as(order).contiguous())
        return ranks

    def rank_intervals(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Percentile bootstrap interval of each feature's rank within its target.

        Returns
        -------
        ``(low, high)``, integer arrays of shape (n_targets, n_features).
        """
        # sorted over the replicates, shape (B, targets, features)
        ranks = self._bootstrap_rank_tensor().sort(dim=0).values.double()

        def percentile(q: float) -> torch.Tensor:  # numpy's default (linear) percentile
            position = q / 100 * (len(ranks) - 1)
            below, fraction = int(np.floor(position)), position - np.floor(position)
            above = min(below + 1, len(ranks) - 1)
            return ranks[below] + (ranks[above] - ranks[below]) * fraction

        tail = (1.0 - level) / 2 * 100
        low = torch.floor(percentile(tail)).long().cpu().numpy()
        high = torch.ceil(percentile(100 - tail)).long().cpu().numpy()
        return low, high

    def top_k_stability(self, top_k: int) -> np.ndarray:
        """How stable each target's top ``top_k`` is, shape (n_targets,).

        The mean share of the top ``top_k`` that stays in the top ``top_k`` of a bootstrap
        resample of the cells; 1 = the top set never changes.
        """
        means = self._bootstrap_means()
        top_k = min(top_k, means.shape[-1])
        # in a replicate's top k = at least its k-th largest value (a top-k, not a full sort)
        kth = torch.topk(means, top_k, dim=-1).values[..., -1:]  # (B, targets, 1)
        point = torch.topk(self.abs_sums.float(), top_k, dim=-1).indices  # (targets, k)
        kept = torch.gather(means, -1, point.expand(len(means), -1, -1)) >= kth
        return kept.float().mean(dim=(0, 2)).cpu().numpy()
