"""Trust checks of a model's attributions: deletion curve and model randomisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from scipy.stats import spearmanr

from scvi_interpret.tl import deletion_curve, stratified_background

from ._names import resolve_names


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
        n_background: int = 50,
        n_samples: int = 50,
        n_random: int = 5,
        seed: int = 0,
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
            Cells used when ``indices`` is not given.
        ks
            Numbers of features removed.
        n_background, n_samples, seed
            As in :meth:`get_feature_importance`.
        n_random
            Random deletions averaged per k.

        Returns
        -------
        DataFrame with ``k``, ``output_top``, ``output_random``, ``output_full``.
        """
        adata = self._validate_anndata(adata)
        chosen = resolve_names(target, self._attribution_targets(), "target")
        if indices is None:
            rng = np.random.default_rng(seed)
            indices = np.sort(rng.choice(adata.n_obs, min(n_cells, adata.n_obs), replace=False))
        _, explanation = self.get_feature_importance(
            adata, indices, [target], n_background, n_samples, seed=seed, return_explanation=True
        )
        values = explanation[self._attribution_modality].values[:, :, 0]
        cells = self._resolve_indices(indices, adata.n_obs)
        ((inputs, extra),) = self._attribution_inputs(adata, cells, batch_size=len(cells))
        picks = stratified_background(
            self._background_labels(adata), adata.n_obs, n_background, seed
        )
        background = torch.cat([x for x, _ in self._attribution_inputs(adata, picks, len(picks))])
        explained = self._attribution_function(chosen)
        self.module.eval()
        return deletion_curve(
            lambda x, **covariates: explained(x, **covariates)[:, 0],
            inputs,
            values,
            background.mean(0),
            ks=ks,
            n_random=n_random,
            seed=seed,
            extra=extra,
        )

    def randomization_check(
        self,
        target=None,
        adata: AnnData | None = None,
        indices=None,
        n_background: int = 50,
        n_samples: int = 50,
        seed: int = 0,
        threshold: float = 0.5,
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

        Returns
        -------
        DataFrame per target: ``spearman`` (trained vs randomised mean absolute SHAP values
        over features) and ``passed`` (``spearman < threshold``).
        """
        kwargs = {"adata": adata, "indices": indices, "target": target,
                  "n_background": n_background, "n_samples": n_samples, "seed": seed}  # fmt: skip
        trained = self.get_feature_importance(**kwargs)
        state = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        try:
            torch.manual_seed(seed)
            for layer in self._explained_layers().modules():
                if hasattr(layer, "reset_parameters"):
                    layer.reset_parameters()
            randomised = self.get_feature_importance(**kwargs)
        finally:
            self.module.load_state_dict(state)
        rows = []
        for name, group in trained.groupby("target", sort=False):
            other = randomised[randomised["target"] == name].set_index("feature")
            ours = group.set_index("feature")["mean_abs_shap"]
            rho = spearmanr(ours.to_numpy(), other.loc[ours.index, "mean_abs_shap"]).statistic
            rows.append((name, float(rho), bool(rho < threshold)))
        return pd.DataFrame(rows, columns=["target", "spearman", "passed"])

    def _explained_layers(self) -> torch.nn.Module:
        """The layers between the inputs and the attribution targets (randomised in checks)."""
        return self.module.z_encoder
