"""Latent traversal and archetypes on a model: adapters around the pure tl functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from scvi import REGISTRY_KEYS

from scvi_interpret.tl import archetypal_analysis, latent_traversal

from ._names import resolve_names


@dataclass
class Archetypes:
    """What :meth:`~LatentExplorationMixin.get_archetypes` returns.

    Attributes
    ----------
    weights
        Cells × archetypes, each row a convex mixture (also in ``adata.obsm[key_added]``).
    positions
        Archetypes × latent dimensions.
    top_features
        Tidy table per archetype and modality: ``archetype, modality, feature,
        log2_fold_change`` (archetype vs the average cell), ``rank``.
    label_association
        Labels × archetypes: mean weight of the label's cells (``None`` without labels).
    explained_variance
        ``{number of archetypes: explained variance}`` for the numbers tried.
    """

    weights: pd.DataFrame
    positions: pd.DataFrame
    top_features: pd.DataFrame
    label_association: pd.DataFrame | None
    explained_variance: dict[int, float]


class LatentExplorationMixin:
    """Adds :meth:`latent_traversal` and :meth:`get_archetypes` to a latent-variable model.

    A model provides ``_latent_names()``, ``_latent_directions()`` (±1 per dimension) and
    ``_decode(z, reference)`` returning ``{modality: normalised expression}`` with the
    covariates fixed at ``reference`` (from :meth:`_reference_covariates`).
    """

    def _latent_names(self) -> list[str]:
        raise NotImplementedError

    def _latent_directions(self) -> np.ndarray:
        return np.ones(len(self._latent_names()))

    def _decode(self, z: torch.Tensor, reference: dict) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _feature_names(self, adata: AnnData) -> dict[str, list[str]]:
        return {"rna": list(self.feature_names)}

    @torch.inference_mode()
    def latent_traversal(
        self,
        dims: str | Sequence[str] | None = None,
        n_steps: int = 11,
        span: tuple[float, float] = (0.05, 0.95),
        adata: AnnData | None = None,
        return_curves: bool = False,
    ) -> pd.DataFrame | tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """What each latent dimension means: decode while moving along it.

        Each dimension moves from its 5th to its 95th percentile over the cells (``span``),
        the others held at the median cell, the batch at the most frequent one; every
        modality is decoded (normalised expression).

        Parameters
        ----------
        dims
            Dimension name(s) (factors, or programs for ProgramVI); default all.
        n_steps
            Points along each dimension.
        span
            Quantiles of the cells' values that bound the walk.
        adata
            Cells that define the range; default the training data.
        return_curves
            Also return ``{modality: array (n_dims, n_steps, n_features)}``.

        Returns
        -------
        Tidy DataFrame: ``dimension, modality, feature, log2_fold_change`` (end vs start),
        ``max_abs_log2_change``, ``monotonic``, ``rank``; with ``return_curves`` a tuple.
        """
        adata = self._cells(adata).adata
        names = self._latent_names()
        chosen = resolve_names(dims, names, "dimension")
        latent = self.get_latent_representation(adata)
        reference = self._reference_covariates(adata)
        table, curves = latent_traversal(
            lambda z: self._decode(z.to(self.device), reference),
            latent,
            chosen,
            names,
            self._feature_names(adata),
            n_steps=n_steps,
            span=span,
            directions=self._latent_directions(),
        )
        return (table, curves) if return_curves else table

    @torch.inference_mode()
    def get_archetypes(
        self,
        n_archetypes: int | None = None,
        adata: AnnData | None = None,
        n_top: int = 20,
        max_archetypes: int = 10,
        key_added: str | None = "archetypes",
        seed: int = 0,
    ) -> Archetypes:
        """Extreme states of the latent space, what defines each, and every cell's mixture.

        Archetypal analysis of the posterior means (:func:`scvi_interpret.tl.archetypal_analysis`;
        without ``n_archetypes`` the number is chosen by explained variance). Each archetype is
        decoded into every modality and compared with the decoded average cell.

        Parameters
        ----------
        n_archetypes
            Number of archetypes; default chosen by explained variance.
        adata
            Cells; default the training data.
        n_top
            Features reported per archetype, modality and direction.
        max_archetypes
            Largest number tried when choosing.
        key_added
            ``adata.obsm`` key for the cell weights (``None``: do not write).
        seed
            Random seed.

        Returns
        -------
        :class:`Archetypes`.
        """
        adata = self._cells(adata).adata
        latent = self.get_latent_representation(adata)
        fit = archetypal_analysis(latent, n_archetypes, max_archetypes, seed=seed)
        labels = [f"archetype_{i}" for i in range(fit.n_archetypes)]
        weights = pd.DataFrame(fit.weights, index=adata.obs_names, columns=labels)
        points = np.vstack([fit.archetypes, latent.mean(0, keepdims=True)])
        decoded = self._decode(
            torch.as_tensor(points, dtype=torch.float32, device=self.device),
            self._reference_covariates(adata),
        )
        frames = []
        for modality, names in self._feature_names(adata).items():
            logs = np.log2(decoded[modality].cpu().numpy() + 1e-6)
            for i, label in enumerate(labels):
                change = pd.Series(logs[i] - logs[-1], index=names)
                top = pd.concat([change.nlargest(n_top), change.nsmallest(n_top)])
                frame = pd.DataFrame(
                    {
                        "archetype": label,
                        "modality": modality,
                        "feature": top.index,
                        "log2_fold_change": top.to_numpy(),
                    }
                )
                frame["rank"] = (
                    frame["log2_fold_change"]
                    .abs()
                    .rank(ascending=False, method="first")
                    .astype(int)
                )
                frames.append(frame.sort_values("rank"))
        association = None
        cell_labels = self._label_column(adata)
        if cell_labels is not None:
            association = weights.groupby(cell_labels.to_numpy(), observed=True).mean()
        if key_added is not None:
            adata.obsm[key_added] = weights
        return Archetypes(
            weights=weights,
            positions=pd.DataFrame(fit.archetypes, index=labels, columns=self._latent_names()),
            top_features=pd.concat(frames, ignore_index=True),
            label_association=association,
            explained_variance=fit.explained_variance,
        )

    def _label_column(self, adata: AnnData) -> pd.Series | None:
        registry = self.registry_["setup_args"]
        key = registry.get("labels_key")
        return adata.obs[key] if key is not None and key in adata.obs else None

    def _reference_covariates(self, adata: AnnData) -> dict:
        """Covariates to decode at: most frequent categories, mean continuous covariates.

        Returns ``{"categorical": [code per categorical covariate, the batch first],
        "cont_covs": tensor (n_continuous,) or None}``; :meth:`_expand_covariates` turns it
        into per-point tensors.
        """
        manager = self.get_anndata_manager(adata, required=True)
        codes = [np.asarray(manager.get_from_registry(REGISTRY_KEYS.BATCH_KEY)).ravel()]
        if REGISTRY_KEYS.CAT_COVS_KEY in manager.data_registry:
            cat = np.asarray(manager.get_from_registry(REGISTRY_KEYS.CAT_COVS_KEY))
            codes += [cat[:, j] for j in range(cat.shape[1])]
        continuous = None
        if REGISTRY_KEYS.CONT_COVS_KEY in manager.data_registry:
            cont = np.asarray(manager.get_from_registry(REGISTRY_KEYS.CONT_COVS_KEY), dtype=float)
            continuous = torch.as_tensor(cont.mean(0), dtype=torch.float32, device=self.device)
        return {
            "categorical": [int(np.bincount(c.astype(int)).argmax()) for c in codes],
            "cont_covs": continuous,
        }

    def _expand_covariates(self, reference: dict, n: int) -> tuple[list, torch.Tensor | None]:
        """The reference covariates as tensors for ``n`` points (codes (n, 1), cont (n, k))."""
        categorical = [
            torch.full((n, 1), float(code), device=self.device)
            for code in reference["categorical"]
        ]
        continuous = reference["cont_covs"]
        return categorical, None if continuous is None else continuous.expand(n, -1)
