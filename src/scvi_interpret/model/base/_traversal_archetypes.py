"""Latent traversal and archetypes on a model: adapters around the pure tl functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from scvi import REGISTRY_KEYS

from scvi_interpret.tl import archetypal_analysis, check_sample_size, latent_traversal

from ._hyperparameters import check_hyperparameters
from ._importance_sample import run_pool
from ._names import resolve_names
from ._store import store_array

RANGE_CELLS = 20_000


def sample_positions(
    n_obs: int, n_cells: int | str | None, seed: int, in_runs: bool = False
) -> np.ndarray | None:
    """Positions of a random sample of cells (sorted), or ``None`` for all of them.

    ``n_cells``: a number (checked against ``n_obs``), ``"all"``, or ``None`` for all up to
    :data:`RANGE_CELLS` cells and a sample of that many beyond. ``in_runs``: the sample is
    made of random runs of consecutive cells (for stores, see
    :func:`~scvi_interpret.model.base._importance_sample.run_pool`); else uniform.
    """
    if n_cells is None or n_cells == "auto":
        n_cells = "all" if n_obs <= RANGE_CELLS else RANGE_CELLS
    n_cells = check_sample_size(n_cells, n_obs)
    if n_cells == "all" or n_cells == n_obs:
        return None
    rng = np.random.default_rng(seed)
    if in_runs:
        return run_pool(n_obs, n_cells, rng)[:n_cells]
    return np.sort(rng.choice(n_obs, n_cells, replace=False))


@dataclass
class Archetypes:
    """What :meth:`~LatentExplorationMixin.get_archetypes` returns.

    Attributes
    ----------
    weights
        Cells × archetypes, each row a convex mixture (also in ``adata.obsm[key_added]`` when
        asked).
    positions
        Archetypes × latent dimensions.
    top_features
        Tidy table per archetype and modality: ``archetype, modality, feature,
        log2_fold_change`` (archetype vs the average cell), ``rank``.
    label_association
        Labels × archetypes: mean weight of the label's cells (``None`` without labels).
    explained_variance
        ``{number of archetypes: explained variance}`` for the numbers tried.
    n_fit_cells
        Cells the archetypes were fitted on (all cells, or a coreset of them).
    """

    weights: pd.DataFrame
    positions: pd.DataFrame
    top_features: pd.DataFrame
    label_association: pd.DataFrame | None
    explained_variance: dict[int, float]
    n_fit_cells: int = 0


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
        datamodule=None,
        n_cells: int | str | None = None,
        seed: int = 0,
    ) -> pd.DataFrame | tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """What each latent dimension means: decode while moving along it.

        Each dimension moves from its 5th to its 95th percentile over the cells (``span``),
        the others held at the median cell, the batch at the most frequent one; every
        modality is decoded (normalised expression). The percentiles and the median come from
        a random sample of at most 20,000 cells (``n_cells``; from a store, in runs of
        consecutive cells), stated in ``table.attrs["n_cells"]``.

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
        datamodule
            Cells on disk instead of ``adata`` (a data module with the model's registry).
        n_cells
            Cells whose latents set the range: a number, ``"all"``, or ``None`` (all up to
            20,000, else a uniform sample of 20,000).
        seed
            Seed of the sample.

        Returns
        -------
        Tidy DataFrame: ``dimension, modality, feature, log2_fold_change`` (end vs start),
        ``max_abs_log2_change``, ``monotonic``, ``rank``; with ``return_curves`` a tuple.
        """
        cells = self._cells(adata, datamodule)
        names = self._latent_names()
        chosen = resolve_names(dims, names, "dimension")
        positions = sample_positions(cells.n_obs, n_cells, seed, cells.datamodule is not None)
        latent = self._latent_of(cells, positions)
        reference = self._reference_covariates(cells)
        table, curves = latent_traversal(
            lambda z: self._decode(z.to(self.device), reference),
            latent,
            chosen,
            names,
            self._feature_names(cells.adata),
            n_steps=n_steps,
            span=span,
            directions=self._latent_directions(),
        )
        table.attrs["n_cells"] = len(latent)
        return (table, curves) if return_curves else table

    def _latent_of(self, cells, positions: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Posterior means of the chosen cells (all by default), read in chunks."""
        if cells.adata is not None:
            return self.get_latent_representation(cells.adata, indices=positions, **kwargs)
        return self.get_latent_representation(
            datamodule=cells.datamodule, indices=positions, **kwargs
        )

    @torch.inference_mode()
    def get_archetypes(
        self,
        n_archetypes: int | None = None,
        adata: AnnData | None = None,
        n_top: int = 20,
        max_archetypes: int = 10,
        key_added: str | None = None,
        seed: int = 0,
        datamodule=None,
        coreset_size: int = 2000,
    ) -> Archetypes:
        """Extreme states of the latent space, what defines each, and every cell's mixture.

        Archetypal analysis of the posterior means (:func:`scvi_interpret.tl.archetypal_analysis`:
        fitted in torch on all cells or, beyond ``coreset_size``, on a weighted coreset;
        every cell projected onto the archetypes in batches; without ``n_archetypes`` the
        number is chosen by explained variance). Each archetype is decoded into every
        modality and compared with the decoded average cell.

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
            If given, write the cell weights to ``adata.obsm[key_added]``.
        seed
            Random seed.
        datamodule
            Cells on disk instead of ``adata`` (a data module with the model's registry).
        coreset_size
            Cells the archetypes are fitted on when there are more.

        Returns
        -------
        :class:`Archetypes`.
        """
        if n_archetypes is None:
            check_hyperparameters("get_archetypes", max_archetypes=max_archetypes)
        else:  # at most the number of cells: checked on the latent
            check_hyperparameters("get_archetypes", n_archetypes=n_archetypes)
        cells = self._cells(adata, datamodule, key_added)
        latent = self._latent_of(cells)
        fit = archetypal_analysis(latent, n_archetypes, max_archetypes, seed=seed,
                                  coreset_size=coreset_size)  # fmt: skip
        labels = [f"archetype_{i}" for i in range(fit.n_archetypes)]
        weights = pd.DataFrame(
            fit.weights, index=cells.names(np.arange(cells.n_obs)), columns=labels
        )
        points = np.vstack([fit.archetypes, latent.mean(0, keepdims=True)])
        decoded = self._decode(
            torch.as_tensor(points, dtype=torch.float32, device=self.device),
            self._reference_covariates(cells),
        )
        frames = []
        for modality, names in self._feature_names(cells.adata).items():
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
        cell_labels = self._label_names(cells)
        if cell_labels is not None:
            association = weights.groupby(cell_labels, observed=True).mean()
        if key_added is not None:
            store_array(cells.adata, "obsm", key_added, weights)
        return Archetypes(
            weights=weights,
            positions=pd.DataFrame(fit.archetypes, index=labels, columns=self._latent_names()),
            top_features=pd.concat(frames, ignore_index=True),
            label_association=association,
            explained_variance=fit.explained_variance,
            n_fit_cells=fit.n_fit_cells,
        )

    def _label_names(self, cells) -> np.ndarray | None:
        """Each cell's registered label (names), or ``None`` without labels."""
        codes = cells.labels()
        if self.registry_["setup_args"].get("labels_key") is None or codes is None:
            return None
        state = self.registry_["field_registries"][REGISTRY_KEYS.LABELS_KEY]["state_registry"]
        categories = np.asarray(state["categorical_mapping"]).astype(str)
        return categories[codes.astype(int)]

    def _reference_covariates(self, cells) -> dict:
        """Covariates to decode at: most frequent categories, mean continuous covariates.

        Returns ``{"categorical": [code per categorical covariate, the batch first],
        "cont_covs": tensor (n_continuous,) or None}``; :meth:`_expand_covariates` turns it
        into per-point tensors.
        """
        codes = [np.asarray(cells.codes(REGISTRY_KEYS.BATCH_KEY)).ravel()]
        categorical = cells.codes(REGISTRY_KEYS.CAT_COVS_KEY)
        if categorical is not None:
            categorical = np.asarray(categorical)
            codes += [categorical[:, j] for j in range(categorical.shape[1])]
        continuous = cells.codes(REGISTRY_KEYS.CONT_COVS_KEY)
        if continuous is not None:
            mean = np.asarray(continuous, dtype=float).mean(0)
            continuous = torch.as_tensor(mean, dtype=torch.float32, device=self.device)
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
