"""The cells an inference call reads: a registered AnnData/MuData, or a data module on disk."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from scvi import REGISTRY_KEYS
from scvi.data._constants import _SCVI_UUID_KEY

from scvi_interpret.errors import (
    ArgumentTypeError,
    FeatureMismatchError,
    InvalidArgumentError,
    InvalidDataError,
    UnknownNameError,
)

from ._setup import check_continuous_covariates, check_has_cells
from ._store import store_array
from ._validation import check_aligned, check_counts, get_matrix

COUNTS_PREFIX = "X"


def as_positions(indices) -> np.ndarray:
    """``indices`` as an array of positions (or a boolean mask); raise for cell names.

    Raises
    ------
    ArgumentTypeError
        ``indices`` holds names (strings) or other non-integer values.
    """
    array = np.asarray(indices)
    if array.dtype == bool or np.issubdtype(array.dtype, np.integer):
        return array
    if array.size == 0:
        return array.astype(np.int64)
    if array.dtype.kind in "OUS":
        raise ArgumentTypeError(
            f"indices holds names (e.g. {array.ravel()[:2].tolist()}); it takes positions "
            "(0 … n_cells − 1) or a boolean mask. From names: "
            "`indices = np.flatnonzero(adata.obs_names.isin(names))`."
        )
    raise ArgumentTypeError(
        f"indices must be whole-number positions or a boolean mask, not {array.dtype} values."
    )


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

    def names(self, indices: np.ndarray) -> pd.Index:
        """Names of the chosen cells (positions); from a store only these are read."""
        if self.adata is not None:
            return self.adata.obs_names[indices]
        return self.datamodule.cell_names(indices)

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

    def obs_column(self, name: str) -> pd.Series:
        """One ``obs`` column for every cell (of the AnnData/MuData, or read from the store)."""
        if self.adata is not None:
            if name not in self.adata.obs:
                raise UnknownNameError(f"{name!r} is not a column of adata.obs.")
            return self.adata.obs[name].reset_index(drop=True)
        return self.datamodule.obs_column(name)

    def labels(self) -> np.ndarray | None:
        """Label codes, shape (n_cells,), or ``None`` without labels."""
        values = self.codes(REGISTRY_KEYS.LABELS_KEY)
        return None if values is None else np.asarray(values).ravel()


def first_cells(
    batches: Iterable[dict[str, torch.Tensor]], n_cells: int
) -> Iterator[dict[str, torch.Tensor]]:
    """The minibatches of ``batches`` up to its first ``n_cells`` cells (the last one cut).

    Reads no further than needed: for a data module that streams its cells (scvi-tools'
    ``TileDBDataModule``) a bounded sample, whatever the size of the store.
    """
    remaining = n_cells
    if remaining <= 0:
        return
    for tensors in batches:
        size = len(next(iter(tensors.values())))
        if size > remaining:
            tensors = {key: value[:remaining] for key, value in tensors.items()}
        remaining -= size
        yield tensors
        if remaining <= 0:
            return


def counts_fields(registry: dict) -> Iterator[tuple[str, str | None, pd.Index]]:
    """The counts fields of a registry: ``(registry key, mod_key or None, feature names)``."""
    for key, field in registry["field_registries"].items():
        state = field.get("state_registry", {})
        if key.startswith(COUNTS_PREFIX) and "column_names" in state:
            names = pd.Index(np.asarray(state["column_names"]).astype(str))
            yield key, field.get("data_registry", {}).get("mod_key"), names


def check_datamodule(model, datamodule) -> None:
    """Raise unless ``datamodule`` reads the model's features and categories.

    Compares the counts fields' feature names (and order) and the categories of every
    categorical field of the data module's registry with the model's.
    """
    if not hasattr(datamodule, "inference_dataloader") or not hasattr(datamodule, "registry"):
        raise ArgumentTypeError(
            f"datamodule must be a data module with a registry and inference_dataloader() (e.g. "
            f"si.data.SomaDataModule), not {type(datamodule).__name__}."
        )
    fix = "Build the data module for this model: si.data.SomaDataModule(..., reference=model)."
    theirs = {key: names for key, _, names in counts_fields(datamodule.registry)}
    for key, _, wanted in counts_fields(model.registry_):
        have = theirs.get(key, pd.Index([]))
        if not have.equals(wanted):
            raise FeatureMismatchError(
                f"The data module's features ({key}) are not the model's "
                f"({len(wanted.difference(have))} missing, {len(have.difference(wanted))} "
                f"extra, or another order). {fix}"
            )
    ours, other = model.registry_["field_registries"], datamodule.registry["field_registries"]
    for key, field in ours.items():
        state = field.get("state_registry", {})
        if "categorical_mapping" in state:
            wanted = list(np.asarray(state["categorical_mapping"]).astype(str))
            mapping = other.get(key, {}).get("state_registry", {}).get("categorical_mapping", [])
            have = list(np.asarray(mapping).astype(str))
            if have != wanted:
                raise FeatureMismatchError(
                    f"The data module's categories of {key!r} are not the model's "
                    f"(model: {wanted[:5]}…, data module: {have[:5]}…). {fix}"
                )


def check_adata_features(model, adata) -> None:
    """Raise unless ``adata`` has the model's features in the model's order (per modality).

    scvi-tools only warns about other features; reading them would silently give wrong
    latents and attributions.
    """
    check_features(model.registry_, adata, type(model).__name__)


def check_features(registry: dict, adata, model_name: str) -> None:
    """Raise unless ``adata`` has the features of ``registry`` in its order (per modality)."""
    for _, mod_key, wanted in counts_fields(registry):
        holder = adata if mod_key is None else adata.mod.get(mod_key)
        where = "adata" if mod_key is None else f"mdata.mod[{mod_key!r}]"
        if holder is None:
            raise UnknownNameError(f"{where} is missing: the model reads modality {mod_key!r}.")
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
            prepare = "prepare_query_anndata" if mod_key is None else "prepare_query_mudata"
            fix = f"Lay it out like the model's data: `data = {model_name}.{prepare}(data, model)`"
        else:
            detail = "the same features are in another order"
            fix = f"Reorder them: `{where.split('[')[0]} = …[:, model_feature_names].copy()`"
        raise FeatureMismatchError(
            f"The features of {where} differ from those the model was trained on: {detail}. "
            f"{fix}; the model reads features by position."
        )


def check_new_data(registry: dict, data) -> None:
    """Run the setup checks on data given to a trained model (``adata=``, ``mdata=``, load).

    scvi-tools registers such data from the saved registry, without the model's
    ``setup_anndata``/``setup_mudata``; without this, log-normalised values, NaN or a MuData
    whose modalities are not aligned would give silently wrong or unreadable results. Counts
    are read in blocks of rows (memory does not grow with cells).

    Parameters
    ----------
    registry
        The model's registry (``model.registry_``).
    data
        AnnData or MuData with the model's features (see :func:`check_features`).
    """
    check_has_cells(data, "mdata" if hasattr(data, "mod") else "adata")
    for key, mod_key, _ in counts_fields(registry):
        holder = data if mod_key is None else data.mod[mod_key]
        where = "adata" if mod_key is None else f"mdata.mod[{mod_key!r}]"
        if mod_key is not None:
            check_aligned(data, mod_key)
        location = registry["field_registries"][key]["data_registry"]
        layer = location.get("attr_key") if location.get("attr_name") == "layers" else None
        check_counts(
            get_matrix(holder, layer), f"{where}." + (f"layers[{layer!r}]" if layer else "X")
        )
    continuous = registry.get("setup_args", {}).get("continuous_covariate_keys")
    check_continuous_covariates(data.obs, continuous)
    check_known_categories(registry, data.obs)


def _categorical_columns(registry: dict) -> Iterator[tuple[str, str, list[str], str | None]]:
    """``(field, obs column, known categories, unlabelled category)`` of each categorical field."""
    for key, field in registry["field_registries"].items():
        state = field.get("state_registry", {})
        original = state.get("original_key")
        # no key given at setup: scvi-tools registered a constant column it fills itself
        if "categorical_mapping" in state and original and not original.startswith("_scvi"):
            known = [str(c) for c in state["categorical_mapping"]]
            yield key, original, known, state.get("unlabeled_category")
        for column, known in (state.get("mappings") or {}).items():
            yield key, column, [str(c) for c in known], None


def check_known_categories(registry: dict, obs: pd.DataFrame) -> None:
    """Raise if a categorical ``obs`` column of new data has values the model never saw.

    A trained model has one embedding per batch/covariate category; scvi-tools would fail
    with "Category … not found in source registry". New batches are the job of reference
    mapping (``load_query_data``); new labels can be read as unlabelled.
    """
    for key, column, known, unlabeled in _categorical_columns(registry):
        if column not in obs:
            if key == REGISTRY_KEYS.LABELS_KEY:
                continue  # scvi-tools fills a missing labels column with the unlabelled one
            raise UnknownNameError(
                f"obs[{column!r}] ({key}) is missing; the model was trained with it. Add it "
                f"(known values: {known[:5]})."
            )
        values = obs[column]
        n_missing = int(values.isna().sum())
        new = sorted(set(map(str, pd.unique(values.dropna()))) - set(known))  # not per cell
        if not new and not n_missing:
            continue
        found = (
            f"{len(new)} value(s) the model was not trained on (e.g. {new[:3]})"
            if new
            else (f"{n_missing} missing value(s)")
        )
        if key == REGISTRY_KEYS.LABELS_KEY and unlabeled is not None:
            fix = f"set them to the unlabelled category {unlabeled!r}"
        elif key == REGISTRY_KEYS.LABELS_KEY:
            fix = f"keep only labels the model knows ({known[:5]}…)"
        else:
            model_name = registry.get("model_name", "Model")
            fix = (
                f"map these cells onto the model first: `query_model = {model_name}."
                "load_query_data(data, model)` learns new batches/categories"
            )
        raise InvalidDataError(f"obs[{column!r}] ({key}) has {found}; {fix}.")


class CellsMixin:
    """Where a call's cells come from: ``adata=`` (default the model's) or ``datamodule=``."""

    def _cells(self, adata=None, datamodule=None, key_added: str | None = None) -> Cells:
        """Validated cells of a call; raises for both or, without an AnnData, neither.

        ``key_added``: the call writes its result to the AnnData, which a data module lacks.
        """
        if datamodule is not None:
            if adata is not None:
                raise InvalidArgumentError("Pass the cells as adata= or as datamodule=, not both.")
            if key_added is not None:
                raise InvalidArgumentError(
                    f"key_added={key_added!r} writes to an AnnData; with datamodule= there is "
                    "none. Keep the returned result instead."
                )
            check_datamodule(self, datamodule)
            return Cells(self, datamodule=datamodule)
        if adata is None and self.adata is None:
            raise InvalidArgumentError(
                f"This {type(self).__name__} has no AnnData (it was built from a registry, e.g. "
                "trained from disk): pass the cells as datamodule=… (a data module built with "
                "reference=model) or adata=…."
            )
        if adata is not None and adata is not self.adata:
            check_adata_features(self, adata)
            if not self._registered_here(adata):  # its counts were checked when registered
                check_new_data(self.registry_, adata)
        return Cells(self, adata=self._validate_anndata(adata))

    def _registered_here(self, adata) -> bool:
        """``adata`` itself (not a copy) is already registered with this model.

        Read from scvi-tools' manager store without ``get_anndata_manager``, which would
        register a copy as a side effect.
        """
        uuid = getattr(adata, "uns", {}).get(_SCVI_UUID_KEY)
        manager = type(self)._per_instance_manager_store.get(self.id, {}).get(uuid)
        return manager is not None and manager.adata is adata

    def _rotate_latent(self, latent):
        """The reported coordinates of encoder-space latents (LinearVI: its factor rotation).

        ``latent`` is an array (n_cells, n_latent) or, with ``return_dist``, a tuple of means
        and variances; the default reports them as they are.
        """
        return latent

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
            raise InvalidArgumentError(
                "key_added writes one row per cell of adata; it cannot be combined with "
                "indices. Subset the AnnData instead."
            )
        if kwargs.get("dataloader") is not None:  # scvi-tools' own argument: used as given
            if adata is not None or datamodule is not None or key_added is not None:
                raise InvalidArgumentError(
                    "dataloader= cannot be combined with adata, datamodule or key_added."
                )
            latent = super().get_latent_representation(give_mean=give_mean, **kwargs)
            return self._rotate_latent(latent)
        if indices is not None:
            indices = as_positions(indices)
        cells = self._cells(adata, datamodule, key_added)
        if cells.adata is None:
            batches = cells.batches(indices, batch_size or 1024)
            latent = super().get_latent_representation(
                give_mean=give_mean, dataloader=batches, **kwargs
            )
            return self._rotate_latent(latent)
        latent = super().get_latent_representation(
            adata=cells.adata, indices=indices, give_mean=give_mean, batch_size=batch_size,
            **kwargs,
        )  # fmt: skip
        latent = self._rotate_latent(latent)
        if key_added is not None:
            store_array(cells.adata, "obsm", key_added, latent)
        return latent
