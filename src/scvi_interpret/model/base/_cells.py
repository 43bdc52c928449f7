"""The cells an inference call reads: a registered AnnData/MuData, or a data module on disk."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from scvi import REGISTRY_KEYS

COUNTS_PREFIX = "X"


class Cells:
    """Uniform access to the cells of one call, wherever they live.

    Parameters
    ----------
    model
        The scvi-tools model the cells are read for.
    adata
        An AnnData/MuData registered with the model (in memory or backed), or ``None``.
    datamodule
        A data module with the model's registry (e.g.
        :class:`~scvi_interpret.data.SomaDataModule`), or ``None``.
    """

    def __init__(self, model, adata=None, datamodule=None):
        self.model, self.adata, self.datamodule = model, adata, datamodule

    @property
    def n_obs(self) -> int:
        """Number of cells."""
        return self.adata.n_obs if self.adata is not None else self.datamodule.n_obs

    @property
    def obs_names(self) -> pd.Index:
        """Cell names, in order."""
        return self.adata.obs_names if self.adata is not None else self.datamodule.obs_names

    def batches(
        self, indices: Sequence[int] | None = None, batch_size: int | None = None
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Registry-keyed minibatch tensors of the chosen cells (positions), in that order."""
        if self.adata is not None:
            return iter(
                self.model._make_data_loader(
                    adata=self.adata, indices=indices, batch_size=batch_size
                )
            )
        return iter(self.datamodule.inference_dataloader(indices=indices, batch_size=batch_size))

    def codes(self, key: str) -> np.ndarray | None:
        """Codes of a registered field for every cell (``None`` if not registered)."""
        if self.adata is not None:
            manager = self.model.get_anndata_manager(self.adata, required=True)
            if key not in manager.data_registry:
                return None
            return np.asarray(manager.get_from_registry(key))
        return self.datamodule.registered(key)

    def labels(self) -> np.ndarray | None:
        """Label codes, shape (n_cells,), or ``None`` without labels."""
        values = self.codes(REGISTRY_KEYS.LABELS_KEY)
        return None if values is None else np.asarray(values).ravel()


def check_datamodule(model, datamodule) -> None:
    """Raise unless ``datamodule`` reads the model's features and categories.

    Compares the counts fields' feature names (and order) and the categories of every
    categorical field of the data module's registry with the model's.
    """
    if not hasattr(datamodule, "inference_dataloader") or not hasattr(datamodule, "registry"):
        raise TypeError(
            f"datamodule must be a data module with a registry and inference_dataloader() (e.g. "
            f"si.data.SomaDataModule), not {type(datamodule).__name__}."
        )
    ours, theirs = model.registry_["field_registries"], datamodule.registry["field_registries"]
    fix = "Build the data module for this model: si.data.SomaDataModule(..., reference=model)."
    for key, field in ours.items():
        state = field.get("state_registry", {})
        other = theirs.get(key, {}).get("state_registry", {})
        if "column_names" in state:
            wanted = pd.Index(np.asarray(state["column_names"]).astype(str))
            have = pd.Index(np.asarray(other.get("column_names", [])).astype(str))
            if not have.equals(wanted):
                raise ValueError(
                    f"The data module's features ({key}) are not the model's "
                    f"({len(wanted.difference(have))} missing, {len(have.difference(wanted))} "
                    f"extra, or another order). {fix}"
                )
        if "categorical_mapping" in state:
            wanted = list(np.asarray(state["categorical_mapping"]).astype(str))
            have = list(np.asarray(other.get("categorical_mapping", [])).astype(str))
            if have != wanted:
                raise ValueError(
                    f"The data module's categories of {key!r} are not the model's "
                    f"(model: {wanted[:5]}…, data module: {have[:5]}…). {fix}"
                )


def check_adata_features(model, adata) -> None:
    """Raise unless ``adata`` has the model's features in the model's order (per modality).

    scvi-tools only warns about other features; reading them would silently give wrong
    latents and attributions.
    """
    fields = model.registry_["field_registries"]
    for key, field in fields.items():
        state, location = field.get("state_registry", {}), field.get("data_registry", {})
        if "column_names" not in state or not key.startswith(COUNTS_PREFIX):
            continue
        mod_key = location.get("mod_key")
        holder = adata if mod_key is None else adata.mod.get(mod_key)
        where = "adata" if mod_key is None else f"mdata.mod[{mod_key!r}]"
        if holder is None:
            raise KeyError(f"{where} is missing: the model reads modality {mod_key!r}.")
        wanted = pd.Index(np.asarray(state["column_names"]).astype(str))
        have = pd.Index(holder.var_names.astype(str))
        if have.equals(wanted):
            continue
        missing, extra = wanted.difference(have), have.difference(wanted)
        if len(missing) or len(extra):
            detail = (
                f"{len(missing)} of the model's features are missing (e.g. "
                f"{missing[:3].tolist()}), {len(extra)} are not the model's (e.g. "
                f"{extra[:3].tolist()})"
            )
            fix = f"Call `{type(model).__name__}.prepare_query_anndata(adata, model)` first"
        else:
            detail = "the same features are in another order"
            fix = f"Reorder them: `{where.split('[')[0]} = …[:, model_feature_names].copy()`"
        raise ValueError(
            f"The features of {where} differ from those the model was trained on: {detail}. "
            f"{fix}; the model reads features by position."
        )


class CellsMixin:
    """Where a call's cells come from: ``adata=`` (default the model's) or ``datamodule=``."""

    def _cells(self, adata=None, datamodule=None) -> Cells:
        """Validated cells of a call; raises for both or, without an AnnData, neither."""
        if datamodule is not None:
            if adata is not None:
                raise ValueError("Pass the cells as adata= or as datamodule=, not both.")
            check_datamodule(self, datamodule)
            return Cells(self, datamodule=datamodule)
        if adata is None and self.adata is None:
            raise ValueError(
                f"This {type(self).__name__} has no AnnData (it was built from a registry, e.g. "
                "trained from disk): pass the cells as datamodule=… (a data module built with "
                "reference=model) or adata=…."
            )
        if adata is not None and adata is not self.adata:
            check_adata_features(self, adata)
        return Cells(self, adata=self._validate_anndata(adata))

    def get_latent_representation(
        self,
        adata=None,
        indices: Sequence[int] | None = None,
        give_mean: bool = True,
        batch_size: int | None = None,
        key_added: str | None = None,
        datamodule=None,
        **kwargs,
    ) -> np.ndarray:
        """Posterior mean (or a sample) of the latent space for each cell.

        Parameters
        ----------
        adata
            AnnData/MuData set up like the training data; defaults to the training data.
        indices
            Cells to use (positions); all by default.
        give_mean
            Return the posterior mean instead of a sample.
        batch_size
            Minibatch size.
        key_added
            If given (and ``indices`` is ``None``), also write to ``adata.obsm[key_added]``.
        datamodule
            Cells on disk instead of ``adata``: a data module with the model's registry
            (:class:`~scvi_interpret.data.SomaDataModule` built with ``reference=model``, or the
            one the model was trained with); read in chunks, in order.
        **kwargs
            Passed to :meth:`scvi.model.base.VAEMixin.get_latent_representation`
            (``return_dist=True`` returns means and variances; ``dataloader=`` reads the
            minibatches given, e.g. ``datamodule.inference_dataloader()``).

        Returns
        -------
        Array of shape (n_cells, n_latent) (a tuple of two with ``return_dist``).
        """
        if key_added is not None and indices is not None:
            raise ValueError(
                "key_added writes one row per cell of adata; it cannot be combined with "
                "indices. Subset the AnnData instead."
            )
        if kwargs.get("dataloader") is not None:  # scvi-tools' own argument: used as given
            if adata is not None or datamodule is not None or key_added is not None:
                raise ValueError(
                    "dataloader= cannot be combined with adata, datamodule or key_added."
                )
            return super().get_latent_representation(give_mean=give_mean, **kwargs)
        cells = self._cells(adata, datamodule)
        if cells.adata is None:
            if key_added is not None:
                raise ValueError("key_added writes to an AnnData; with datamodule= it cannot.")
            latent = super().get_latent_representation(
                give_mean=give_mean,
                dataloader=cells.batches(indices, batch_size or 1024),
                **kwargs,
            )
            return latent
        latent = super().get_latent_representation(
            adata=cells.adata, indices=indices, give_mean=give_mean, batch_size=batch_size,
            **kwargs,
        )  # fmt: skip
        if key_added is not None:
            cells.adata.obsm[key_added] = latent
        return latent
