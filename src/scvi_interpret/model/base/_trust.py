"""Trust checks of a model's attributions: deletion curve and model randomisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from scipy.stats import spearmanr

from scvi_interpret.errors import ArgumentTypeError, InvalidArgumentError
from scvi_interpret.tl import check_sample_size, deletion_curve

from ._importance_sample import plan_sample


def at_most(n_cells: int | str, n_obs: int) -> int:
    """``n_cells`` capped at ``n_obs`` (``"all"``: ``n_obs``); raises for bad sizes."""
    if n_cells == "all":
        return n_obs
    if isinstance(n_cells, str):
        raise InvalidArgumentError(f'n_cells must be "all" or a number of cells, not {n_cells!r}.')
    if isinstance(n_cells, int | np.integer) and not isinstance(n_cells, bool) and n_cells > n_obs:
        return n_obs
    return check_sample_size(n_cells, n_obs)


class AttributionTrustMixin:
    """Adds :meth:`deletion_curve` and :meth:`randomization_check`.

    Uses the attribution adapters of :class:`InterpretabilityMixin`.
    """

    def deletion_curve(
        self,
        target: str,
        adata: AnnData | None = None,
        indices=None,
        n_cells: int = 100,
        ks=(1, 2, 5, 10, 20, 50, 100),
        n_background: int = 20,
        n_samples: int = 120,
        n_random: int = 5,
        seed: int = 0,
        input_space: str = "log1p",
        modalities=None,
        datamodule=None,
    ) -> pd.DataFrame:
        """Test whether the output falls when the most important features are removed.

        For up to ``n_cells`` cells, the features with the largest SHAP values for ``target``
        are replaced by the background mean, ``k`` at a time, and the output is compared with
        replacing ``k`` random features (:func:`scvi_interpret.tl.deletion_curve`).

        Parameters
        ----------
        target
            One target name.
        adata, indices
            Cells to use (default: the training data, ``n_cells`` of them at random).
        n_cells
            Cells used when ``indices`` is not given (a uniform sample; all if there are
            fewer), or ``"all"``.
        ks
            Numbers of features removed.
        n_background, n_samples, seed
            As in :meth:`get_feature_importance`.
        n_random
            Random deletions averaged per k.
        input_space
            As in :meth:`get_feature_importance`; deleted features take the background mean
            in that space.
        modalities
            Modalities whose features are ranked and deleted; default all.
        datamodule
            Cells on disk instead of ``adata``; only the chosen cells are read.

        Returns
        -------
        DataFrame with ``k``, ``output_top``, ``output_random``, ``output_full``;
        ``attrs["n_cells"]`` is the number of cells used.
        """
        data = self._cells(adata, datamodule)
        if not isinstance(target, str):
            raise ArgumentTypeError(
                f"deletion_curve explains one target (a name), got {target!r}."
            )
        plan = self._attribution_plan(target, modalities, input_space)
        if indices is None:
            size = at_most(n_cells, data.n_obs)
            rng = np.random.default_rng(seed)
            indices = np.sort(rng.choice(data.n_obs, size, replace=False))
        cells = self._resolve_indices(indices, data.n_obs)
        result, background = self._attribute(
            data, cells, plan, n_background, n_samples, len(cells), seed, keep_values=True
        )
        ((inputs, extra),) = plan.inputs(data, cells, len(cells))
        with self._eval_mode():
            curve = deletion_curve(
                lambda x, **covariates: plan.function(x, **covariates)[:, 0],
                inputs,
                result.values[:, 0, :],
                background.mean(0),
                ks=ks,
                n_random=n_random,
                seed=seed,
                extra=extra,
            )
        curve.attrs["n_cells"] = len(cells)
        return curve

    def randomization_check(
        self,
        target=None,
        adata: AnnData | None = None,
        indices=None,
        n_background: int = 20,
        n_samples: int = 120,
        seed: int = 0,
        threshold: float = 0.5,
        input_space: str = "log1p",
        min_expressed: float = 0.1,
        n_top: int = 20,
        modalities=None,
        datamodule=None,
        n_cells: int | str = 1000,
    ) -> pd.DataFrame:
        """Model-randomisation sanity check (Adebayo et al. 2018).

        The attribution is computed again after re-initialising every layer of the explained
        function (the encoder) at random; the mean absolute SHAP values of the trained and the
        randomised model should not agree. The model's weights are restored afterwards.

        Parameters
        ----------
        target
            Target name(s); default all.
        adata, indices, n_background, n_samples, seed
            As in :meth:`get_feature_importance`.
        threshold
            Largest Spearman correlation that still passes.
        input_space
            As in :meth:`get_feature_importance`.
        min_expressed
            Compare only features non-zero in at least this share of the explained cells
            (the others get ~0 attribution under any model and would inflate the agreement).
        n_top
            Size of the top sets compared in ``top_overlap``.
        modalities
            Modalities whose features are attributed; default all.
        datamodule
            Cells on disk instead of ``adata``; only the chosen cells are read.
        n_cells
            Without ``indices``: a stratified sample of this many cells (as in
            :meth:`get_feature_importance`; all if there are fewer), or ``"all"``.

        Returns
        -------
        DataFrame per target: ``spearman`` (trained vs randomised mean absolute SHAP values
        over the expressed features), ``top_overlap`` (Jaccard index of the top ``n_top``)
        and ``passed`` (``spearman < threshold``); ``attrs["n_cells"]``: the cells used.
        """
        data = self._cells(adata, datamodule)
        plan = self._attribution_plan(target, modalities, input_space)
        size = None if indices is not None else at_most(n_cells, data.n_obs)
        if size is not None and size < data.n_obs:
            cells = np.sort(plan_sample(self, data, size, size, seed).order[:size])
        else:
            cells = self._resolve_indices(indices, data.n_obs)
        args = (data, cells, plan, n_background, n_samples, 64, seed, False)
        trained, _ = self._attribute(*args)
        state = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        try:
            torch.manual_seed(seed)
            for layer in self._explained_layers().modules():
                if hasattr(layer, "reset_parameters"):
                    layer.reset_parameters()
            randomised, _ = self._attribute(*args)
        finally:
            self.module.load_state_dict(state)
        # features that are (almost) never expressed get ~0 attribution under any model: they
        # would make any two attributions look alike, so they are left out of the comparison
        expressed = torch.zeros(len(plan.features), device=self.device)
        for x, _ in plan.inputs(data, cells, 256):
            expressed += (x > 0).sum(0)
        varying = (expressed / len(cells) >= min_expressed).cpu().numpy()
        rows = []
        for i, name in enumerate(trained.targets):
            if trained.n_cells_per_target is not None and trained.n_cells_per_target[i] == 0:
                continue  # no cell predicted as this class
            ours = trained.mean_abs_shap[i, varying]
            other = randomised.mean_abs_shap[i, varying]
            rho = spearmanr(ours, other).statistic
            top_ours = set(np.argsort(-ours)[:n_top])
            top_other = set(np.argsort(-other)[:n_top])
            overlap = len(top_ours & top_other) / len(top_ours | top_other)
            rows.append((name, float(rho), float(overlap), bool(rho < threshold)))
        table = pd.DataFrame(rows, columns=["target", "spearman", "top_overlap", "passed"])
        table.attrs["n_cells"] = len(cells)
        return table

    def _explained_layers(self) -> torch.nn.Module:
        """The layers between the inputs and the attribution targets (randomised in checks)."""
        return self.module.z_encoder
