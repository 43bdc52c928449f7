"""InterpretabilityMixin: SHAP feature importance on every scvi-interpret model."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from scvi import REGISTRY_KEYS

from scvi_interpret.tl import expected_gradients, stratified_background

from ._names import resolve_names
from ._traversal_archetypes import LatentExplorationMixin
from ._trust import AttributionTrustMixin

INPUT_SPACES = ("log1p", "counts")


class InterpretabilityMixin(AttributionTrustMixin, LatentExplorationMixin):
    """The shared interpretability calls: feature importance, latent traversal, archetypes.

    :meth:`get_feature_importance` is defined here; :meth:`deletion_curve` and
    :meth:`randomization_check` come from :class:`AttributionTrustMixin`,
    :meth:`latent_traversal` and :meth:`get_archetypes` from :class:`LatentExplorationMixin`.

    A model provides ``_attribution_targets()`` (names of what can be explained),
    ``_attribution_function(targets)`` (a differentiable map from the inputs the model reads
    to those targets) and, for models that read several modalities, overrides
    ``_attribution_inputs``. The estimation itself is
    :func:`scvi_interpret.tl.expected_gradients`.
    """

    _attribution_modality = "rna"

    # ------------------------------------------------------------ adapters
    def _attribution_targets(self) -> list[str]:
        raise NotImplementedError

    def _attribution_function(self, targets: list[int]) -> Callable[..., torch.Tensor]:
        raise NotImplementedError

    def _attribution_inputs(
        self, adata: AnnData, indices: Sequence[int], batch_size: int
    ) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """Minibatches ``(counts, covariates)`` on the model's device."""
        loader = self._make_data_loader(adata=adata, indices=indices, batch_size=batch_size)
        for tensors in loader:
            extra = {"batch_index": tensors[REGISTRY_KEYS.BATCH_KEY].to(self.device)}
            cont = tensors.get(REGISTRY_KEYS.CONT_COVS_KEY)
            if cont is not None:
                extra["cont_covs"] = cont.to(self.device)
            yield tensors[REGISTRY_KEYS.X_KEY].to(self.device), extra

    def _attribution_features(self, adata: AnnData) -> list[str]:
        return list(adata.var_names)

    def _explained_in_space(self, targets: list[int], input_space: str):
        """The explained function and an input transform for the chosen input space."""
        if input_space not in INPUT_SPACES:
            raise ValueError(f"input_space must be one of {INPUT_SPACES}, not {input_space!r}.")
        explained = self._attribution_function(targets)
        if input_space == "counts":
            return explained, lambda x: x
        return (lambda z, **covariates: explained(torch.expm1(z), **covariates)), torch.log1p

    def _inputs_in_space(self, adata, cells, batch_size, transform):
        for x, extra in self._attribution_inputs(adata, cells, batch_size):
            yield transform(x), extra

    def _background(self, adata, n_background: int, seed: int, transform) -> torch.Tensor:
        """Background inputs (n_background, n_features), stratified by the labels."""
        picks = stratified_background(
            self._background_labels(adata), adata.n_obs, n_background, seed
        )
        return torch.cat(
            [x for x, _ in self._inputs_in_space(adata, picks, len(picks), transform)]
        )

    @contextmanager
    def _eval_mode(self):
        """Run with the module in eval mode (no dropout), then restore its mode."""
        was_training = self.module.training
        self.module.eval()
        try:
            yield
        finally:
            self.module.train(was_training)

    # ---------------------------------------------------------------- public
    def get_feature_importance(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        target: str | Sequence[str] | None = None,
        n_background: int = 50,
        n_samples: int = 50,
        batch_size: int = 64,
        seed: int = 0,
        return_explanation: bool = False,
        key_added: str | None = None,
        input_space: str = "log1p",
    ) -> pd.DataFrame | tuple[pd.DataFrame, dict]:
        """SHAP values of the model's targets on its input features, per modality.

        Expected gradients (the estimator of ``shap.GradientExplainer``), computed in torch on
        the model's device, batched, for all targets at once; global importance is summed while
        streaming over minibatches. Inputs are attributed in the space the encoder reads,
        ``log1p`` of the registered counts (``input_space="counts"`` attributes the raw counts
        instead: there the values grow with a gene's count range and, on real data, resemble
        those of a randomly initialised encoder, see :meth:`randomization_check`). Covariates
        such as the batch are held at each cell's own value, so they are not attributed.

        Parameters
        ----------
        adata
            Cells to explain (set up like the training data); default the training data.
        indices
            Subset of cells of ``adata`` to explain; default all.
        target
            Name(s) of the targets; default all (see the model's class for what they are).
        n_background
            Background cells, drawn from ``adata`` stratified by the registered labels.
        n_samples
            Baseline/path draws per cell; equal to ``n_background`` (the default) uses every
            background cell once per cell. More: smaller Monte-Carlo error, reported in
            ``frame.attrs["additivity_error"]``.
        batch_size
            Cells per minibatch.
        seed
            Random seed (background and draws).
        return_explanation
            Also return ``{modality: shap.Explanation}`` with per-cell values
            (cells × features × targets; memory grows with the cells: subset with ``indices``).
        key_added
            If given, write the mean absolute SHAP values (features × targets) to
            ``adata.varm[key_added]`` and the settings to ``adata.uns[key_added]``.
        input_space
            ``"log1p"`` (default) or ``"counts"``.

        Returns
        -------
        Tidy DataFrame, one row per (target, modality, feature), with ``target, modality,
        feature, mean_shap, mean_abs_shap, rank``, sorted by target then rank.
        ``frame.attrs`` holds ``additivity_error`` (relative mean gap between the sum of the
        SHAP values and output minus base value), ``n_cells``, ``n_background``,
        ``n_samples``. With ``return_explanation``, a tuple ``(frame, explanations)``.
        """
        adata = self._validate_anndata(adata)
        names = self._attribution_targets()
        chosen = resolve_names(target, names, "target")
        cells = self._resolve_indices(indices, adata.n_obs)
        explained, transform = self._explained_in_space(chosen, input_space)
        background = self._background(adata, n_background, seed, transform)
        with self._eval_mode():
            result = expected_gradients(
                explained,
                self._inputs_in_space(adata, cells, batch_size, transform),
                background,
                targets=[names[i] for i in chosen],
                features=self._attribution_features(adata),
                n_samples=n_samples,
                seed=seed,
                keep_values=return_explanation,
            )
        frame = result.to_frame(self._attribution_modality)
        frame.attrs.update(
            additivity_error=result.additivity_error,
            n_cells=result.n_cells,
            n_background=n_background,
            n_samples=n_samples,
            input_space=input_space,
        )
        if key_added is not None:
            adata.varm[key_added] = pd.DataFrame(
                result.mean_abs_shap.T, index=adata.var_names, columns=result.targets
            )
            adata.uns[key_added] = {
                "method": "expected_gradients",
                "n_background": n_background,
                "n_samples": n_samples,
                "n_cells": result.n_cells,
                "additivity_error": result.additivity_error,
                "seed": seed,
                "input_space": input_space,
            }
        if return_explanation:
            return frame, {self._attribution_modality: result.to_explanation()}
        return frame

    # --------------------------------------------------------------- checks
    @staticmethod
    def _resolve_indices(indices, n_obs: int) -> np.ndarray:
        if indices is None:
            return np.arange(n_obs)
        indices = np.asarray(indices)
        if indices.dtype == bool:
            if len(indices) != n_obs:
                raise IndexError(f"A boolean mask over cells needs length {n_obs}.")
            return np.flatnonzero(indices)
        if len(indices) == 0:
            raise ValueError("indices is empty: no cell to explain.")
        if indices.min() < -n_obs or indices.max() >= n_obs:
            raise IndexError(
                f"indices must lie in [0, {n_obs}); got values from {indices.min()} to "
                f"{indices.max()}."
            )
        return np.mod(indices, n_obs)

    def _background_labels(self, adata: AnnData) -> np.ndarray | None:
        manager = self.get_anndata_manager(adata, required=True)
        if REGISTRY_KEYS.LABELS_KEY not in manager.data_registry:
            return None
        labels = np.asarray(manager.get_from_registry(REGISTRY_KEYS.LABELS_KEY)).ravel()
        return labels if len(np.unique(labels)) > 1 else None
