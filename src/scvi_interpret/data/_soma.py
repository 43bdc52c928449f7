"""SomaDataModule: train, infer and map queries from a TileDB-SOMA experiment on disk."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from lightning.pytorch import LightningDataModule

from scvi_interpret.errors import (
    ArgumentTypeError,
    CellIndexError,
    FeatureMismatchError,
    InvalidArgumentError,
    InvalidDataError,
    UnknownNameError,
)
from scvi_interpret.model.base._cells import counts_fields
from scvi_interpret.model.base._count_statistics import CountStatistics

from ._registry import build_registry, obs_columns
from ._soma_cells import EpochDataLoader, MeasurementReader, SomaCells

logger = logging.getLogger(__name__)

STATISTICS_KEY = "scvi_interpret_statistics"


class SomaDataModule(LightningDataModule):
    """Cells of a TileDB-SOMA experiment, read from disk in minibatches, for a model.

    The data module builds the registry that ``model_cls.setup_anndata`` (or
    ``setup_mudata``) would build for the same cells in memory, so the model is created with
    ``Model(None, registry=dm.registry)``, trained with ``model.train(datamodule=dm)``, saved
    and loaded as usual, and maps in-memory queries (``load_query_data``). Counts are read
    with `tiledbsoma-ml` (chunked shuffling, IO batches, one partition per DDP process); a
    multimodal model reads one measurement per modality. Only the ``obs`` columns the setup
    names and one code per cell and field are held in memory, never the count matrix.

    At construction, all counts are read once (``scan_counts``): they must be finite,
    non-negative integers, every cell must have counts, and the pass gives the start values a
    model is built from (each feature's mean share of a cell's counts), stored in the
    registry. With ``reference`` (a trained model), the features must be the reference's (in
    any order: they are read in the reference's order) and the categories the reference's;
    minibatches are then checked as they are read, instead of in a first pass.

    Parameters
    ----------
    experiment
        URI of a SOMA experiment, or an open :class:`tiledbsoma.Experiment`.
    model_cls
        The model class (``si.model.LinearVI``, ``ProgramVI``, ``MultimodalClassifier``, or an
        scvi-tools model such as ``scvi.model.SCVI``). Not needed with ``reference``.
    measurement
        Measurement with the counts of a single-modality model. A multimodal model names one
        measurement per modality in ``modalities=`` (setup argument).
    layer
        X layer with raw counts (``"data"`` as written by ``tiledbsoma.io``).
    obs_filter
        A SOMA ``value_filter`` on ``obs`` choosing the cells (e.g. ``"tissue == 'blood'"``);
        default all cells.
    feature_column
        Column of each measurement's ``var`` with the feature names.
    reference
        A trained model whose registry (setup arguments, categories, features) the cells are
        set up with: for inference with that model, or (``extend_categories=True``) for a
        query to map onto it.
    extend_categories
        With ``reference``: categories the reference has not seen (a query's new batches) get
        new codes; else they are an error.
    batch_size
        Cells per minibatch.
    train_size
        Share of cells trained on; the rest (:attr:`val_idx`) validates (and calibrates a
        classifier).
    seed
        Seed of the split and of the shuffling (epoch ``e`` shuffles with ``seed + e``).
    shuffle_chunk_size, io_batch_size
        Shuffling granularity and cells per read, as in
        :class:`tiledbsoma_ml.ExperimentDataset`: each read gathers ``io_batch_size /
        shuffle_chunk_size`` runs of contiguous cells from random places of the store and
        shuffles them. Memory grows with the number of runs per read (the store's tiles they
        touch), not with the number of cells: on 10⁶ cells, LinearVI with chunks of 64
        (tiledbsoma-ml's default) peaked at 1.84 ± 0.02 GB, with chunks of 512 at
        1.41 ± 0.02 GB (3 seeds each, ``benchmarks/scale.py``), at the same time per epoch
        within noise. Larger IO batches train faster and take more memory (one profiling run
        on 10⁵ cells, 65,536 instead of 16,384: 10.8 instead of 14.2 ms per step, 0.7 GB
        more at the peak).
    scan_counts
        Read all counts once at construction, to check them and compute the start values a
        new model is built from. Default: without ``reference`` yes, with one no. Without
        the pass every minibatch is checked as it is read.
    use_labels
        With ``reference``: read the labels column (if the store has it). ``False`` treats
        every cell as unlabelled, e.g. a query whose labels include classes the reference
        does not know.
    **setup_kwargs
        Arguments of the model's setup method: ``batch_key``, ``labels_key``,
        ``categorical_covariate_keys``…; for ``MultimodalClassifier`` ``labels_key`` and
        ``modalities={"rna": "RNA", "protein": "prot"}`` (modality -> measurement).

    Examples
    --------
    >>> dm = si.data.SomaDataModule("atlas.soma", si.model.LinearVI, measurement="RNA",
    ...                             batch_key="batch")
    >>> model = si.model.LinearVI(None, registry=dm.registry, n_latent=20)
    >>> model.train(max_epochs=10, datamodule=dm)
    >>> latent = model.get_latent_representation(datamodule=dm)  # cells × factors, in order
    """

    def __init__(
        self,
        experiment,
        model_cls=None,
        measurement: str | None = "RNA",
        layer: str = "data",
        *,
        obs_filter: str | None = None,
        feature_column: str = "var_id",
        reference=None,
        extend_categories: bool = False,
        batch_size: int = 128,
        train_size: float = 0.9,
        seed: int = 0,
        shuffle_chunk_size: int = 512,
        io_batch_size: int = 2**14,
        scan_counts: bool | None = None,
        use_labels: bool = True,
        **setup_kwargs,
    ):
        super().__init__()
        import tiledbsoma

        _check_sizes(batch_size, train_size, io_batch_size, shuffle_chunk_size)
        if reference is not None:
            model_cls = type(reference)
            setup_kwargs = _named_setup_args(model_cls, reference.registry)
        elif model_cls is None:
            raise ArgumentTypeError(
                "Give the model class (model_cls=si.model.LinearVI, …) or reference=."
            )
        self.model_cls = model_cls
        self.batch_size, self.train_size, self.seed = batch_size, train_size, seed
        self.shuffle_chunk_size, self.io_batch_size = shuffle_chunk_size, io_batch_size
        if isinstance(experiment, str):
            experiment = tiledbsoma.Experiment.open(experiment)
        self.experiment = experiment
        measurements = _measurements(model_cls, measurement, setup_kwargs)
        for ms in measurements.values():
            _check_measurement(experiment, ms, layer, feature_column)
        obs = _read_obs(experiment, obs_columns(setup_kwargs), obs_filter, reference, use_labels)
        self.obs_joinids = obs.pop("soma_joinid").to_numpy()
        if len(self.obs_joinids) == 0:
            raise InvalidDataError(
                f"No cells in the experiment match obs_filter={obs_filter!r}; check the filter."
            )
        features, var_joinids = {}, {}
        for key, ms in measurements.items():
            names, joinids = _read_features(experiment, ms, feature_column)
            if reference is not None:
                names, joinids = _in_reference_order(names, joinids, reference, key, ms)
            features[key], var_joinids[key] = names, joinids
        registry, self._codes = build_registry(
            model_cls,
            obs,
            features if measurements.keys() != {None} else features[None],
            setup_kwargs,
            source_registry=None if reference is None else reference.registry,
            extend_categories=extend_categories,
        )
        self._readers = [
            MeasurementReader(
                _counts_field(registry, key)[0],
                _x_locator(experiment, ms, layer),
                var_joinids[key],
            )
            for key, ms in measurements.items()
        ]
        self._checked = reference is None if scan_counts is None else bool(scan_counts)
        if self._checked:
            registry[STATISTICS_KEY] = self._scan(measurements)
        self._registry = registry
        self._split()

    # ------------------------------------------------------------ registry
    @property
    def registry(self) -> dict:
        """The model registry of these cells (as ``setup_anndata`` would give in memory)."""
        return self._registry

    @property
    def n_obs(self) -> int:
        """Number of cells."""
        return len(self.obs_joinids)

    @property
    def n_train(self) -> int:
        """Number of training cells (all ranks); scvi-tools passes it to the model's loss."""
        return len(self.train_idx)

    @property
    def n_val(self) -> int:
        """Number of validation cells (all ranks)."""
        return len(self.val_idx)

    @property
    def n_vars(self) -> int:
        """Number of features (summed over modalities)."""
        return int(sum(len(r.var_joinids) for r in self._readers))

    @property
    def obs_names(self) -> pd.Index:
        """Names of all cells (reads the store's ``obs_id`` column: one string per cell)."""
        return self.cell_names(np.arange(self.n_obs))

    def cell_names(self, positions) -> pd.Index:
        """Names of the chosen cells (positions): ``obs_id`` if the store has it, else joinids.

        Only those cells' names are read.
        """
        if "obs_id" not in self.experiment.obs.schema.names:
            return pd.Index(self.obs_joinids[np.asarray(positions, dtype=int)].astype(str))
        return pd.Index(self.obs_column("obs_id", positions).to_numpy())

    def obs_column(self, name: str, positions=None) -> pd.Series:
        """One ``obs`` column of the store for the chosen cells (positions; default all).

        Returns
        -------
        Series of length ``len(positions)``, in the order of ``positions``.
        """
        if name not in self.experiment.obs.schema.names:
            raise UnknownNameError(
                f"{name!r} is not an obs column of the store; it has "
                f"{[n for n in self.experiment.obs.schema.names if n != 'soma_joinid']}."
            )
        positions = np.arange(self.n_obs) if positions is None else np.asarray(positions, int)
        joinids = self.obs_joinids[positions]
        table = self.experiment.obs.read(coords=(joinids,), column_names=["soma_joinid", name])
        values = table.concat().to_pandas().set_index("soma_joinid")[name]
        return pd.Series(values.loc[joinids].to_numpy(), name=name)

    def registered(self, key: str) -> np.ndarray | None:
        """Codes of a registered field (``"labels"``, ``"batch"``…) for every cell, or None.

        Shape (n_cells, 1) for a categorical field, (n_cells, n_covariates) for covariates.
        """
        return self._codes.get(key)

    # --------------------------------------------------------------- split
    def _split(self) -> None:
        n_train = round(self.train_size * self.n_obs)
        if self.train_size < 1 and n_train == self.n_obs:
            n_train -= 1
        order = np.random.default_rng(self.seed).permutation(self.n_obs)
        self.train_idx = np.sort(order[:n_train])
        self.val_idx = np.sort(order[n_train:])
        self.test_idx = np.zeros(0, dtype=int)

    # --------------------------------------------------------------- reads
    def _cells(self, positions, shuffle: bool, single_process: bool, batch_size=None):
        return SomaCells(
            readers=self._readers,
            obs_joinids=self.obs_joinids,
            positions=np.asarray(positions),
            codes=self._codes,
            batch_size=batch_size or self.batch_size,
            io_batch_size=self.io_batch_size,
            shuffle_chunk_size=self.shuffle_chunk_size,
            shuffle=shuffle,
            seed=self.seed,
            single_process=single_process,
            check_values=not self._checked,
        )

    def train_dataloader(self) -> EpochDataLoader:
        """Training cells, shuffled in chunks, a new order each epoch; one partition per rank."""
        return EpochDataLoader(self._cells(self.train_idx, True, False))

    def val_dataloader(self) -> EpochDataLoader | None:
        """Validation cells in store order (``None`` when ``train_size`` is 1)."""
        if len(self.val_idx) == 0:
            return None
        return EpochDataLoader(self._cells(self.val_idx, False, False))

    def inference_dataloader(
        self, indices: Sequence[int] | None = None, batch_size: int | None = None
    ) -> EpochDataLoader:
        """Minibatches of the chosen cells (positions; default all) in that order.

        Every cell is read in this process, also under DDP.

        Parameters
        ----------
        indices
            Positions of cells (``0 … n_obs - 1``); default all, in store order.
        batch_size
            Cells per minibatch; default the data module's.
        """
        positions = np.arange(self.n_obs) if indices is None else np.asarray(indices)
        if len(positions) and (positions.min() < 0 or positions.max() >= self.n_obs):
            raise CellIndexError(f"indices must lie in [0, {self.n_obs}).")
        return EpochDataLoader(self._cells(positions, False, True, batch_size))

    def _scan(self, measurements: Mapping) -> dict:
        """Read all counts once, in store order: check them, and the start values per modality."""
        statistics = {}
        totals = np.zeros(self.n_obs)
        for reader, ms in zip(self._readers, measurements.values(), strict=True):
            stats = CountStatistics(len(reader.var_joinids), f"X of measurement {ms!r}")
            cells = SomaCells([reader], self.obs_joinids, np.arange(self.n_obs), {},
                              batch_size=4096, io_batch_size=self.io_batch_size,
                              single_process=True)  # fmt: skip
            start = 0
            for tensors in EpochDataLoader(cells):
                x = tensors[reader.registry_key].numpy()
                totals[start : start + len(x)] += stats.add(x)
                start += len(x)
            statistics[reader.registry_key] = stats.summary()
        n_empty = int((totals <= 0).sum())
        if n_empty:
            raise InvalidDataError(
                f"{n_empty} cell(s) of the experiment have no counts (in any measurement). "
                "Leave them out with obs_filter=… or remove them from the store."
            )
        return statistics


# ------------------------------------------------------------------ helpers
def _check_sizes(batch_size, train_size, io_batch_size, shuffle_chunk_size) -> None:
    for name, value in {"batch_size": batch_size, "io_batch_size": io_batch_size,
                        "shuffle_chunk_size": shuffle_chunk_size}.items():  # fmt: skip
        if not isinstance(value, int | np.integer) or value < 1:
            raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}.")
    if not 0 < train_size <= 1:
        raise InvalidArgumentError(f"train_size must lie in (0, 1], got {train_size!r}.")


def _named_setup_args(model_cls, registry: dict) -> dict:
    """A trained model's setup arguments that its setup method names (old extras dropped)."""
    method = getattr(model_cls, registry.get("setup_method_name", "setup_anndata"))
    names = inspect.signature(method).parameters
    return {k: v for k, v in registry["setup_args"].items() if k in names}


def _measurements(model_cls, measurement, setup_kwargs) -> dict:
    """``{mod_key: measurement}``: the MuData keys of a multimodal setup, else ``{None: ms}``."""
    modalities = setup_kwargs.get("modalities")
    if modalities is not None:
        return {key: key for key in dict(modalities).values()}
    if measurement is None:
        raise InvalidArgumentError(
            f"{model_cls.__name__} reads one measurement: pass measurement='RNA'."
        )
    return {None: measurement}


def _check_measurement(experiment, ms: str, layer: str, feature_column: str) -> None:
    available = list(experiment.ms.keys())
    if ms not in available:
        raise UnknownNameError(
            f"Measurement {ms!r} is not in the SOMA experiment (it has {available}). Name the "
            "measurement that holds the counts."
        )
    layers = list(experiment.ms[ms].X.keys())
    if layer not in layers:
        raise UnknownNameError(
            f"X layer {layer!r} is not in measurement {ms!r} (it has {layers}). Pass the "
            "layer with raw counts: layer=…"
        )
    columns = experiment.ms[ms].var.schema.names
    if feature_column not in columns:
        raise UnknownNameError(
            f"feature_column={feature_column!r} is not a column of measurement {ms!r}'s var "
            f"(it has {columns}). Pass the column with the feature names."
        )


def _read_obs(experiment, columns: list[str], obs_filter, reference, use_labels) -> pd.DataFrame:
    available = experiment.obs.schema.names
    labels_key = None if reference is None else reference.registry["setup_args"].get("labels_key")
    # a query may have no labels, or they may be left out
    skipped = [c for c in columns if c == labels_key and (not use_labels or c not in available)]
    missing = [c for c in columns if c not in available and c not in skipped]
    if missing:
        raise UnknownNameError(
            f"obs column(s) {missing} named by the setup arguments are not in the SOMA "
            f"experiment's obs (it has {[c for c in available if c != 'soma_joinid']}). Fix the "
            "argument, or add the column with tiledbsoma.io.update_obs."
        )
    wanted = ["soma_joinid", *[c for c in columns if c not in skipped]]
    table = experiment.obs.read(value_filter=obs_filter, column_names=wanted).concat()
    frame = table.to_pandas().sort_values("soma_joinid", ignore_index=True)
    for column in frame.columns:
        if column != "soma_joinid" and frame[column].dtype == object:
            frame[column] = frame[column].astype("category")
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            # a SOMA enum lists the categories of the whole store, not of the chosen cells
            frame[column] = frame[column].cat.remove_unused_categories()
    if labels_key in frame.columns:
        _check_known_labels(frame[labels_key], reference, labels_key)
    return frame


def _check_known_labels(labels: pd.Series, reference, labels_key: str) -> None:
    state = reference.registry["field_registries"]["labels"]["state_registry"]
    known = set(np.asarray(state["categorical_mapping"]).astype(str))
    unknown = sorted(set(labels.astype(str).unique()) - known)
    if unknown:
        raise InvalidDataError(
            f"obs[{labels_key!r}] has labels the reference model does not know: "
            f"{unknown[:5]}. Pass use_labels=False to read these cells as unlabelled (their "
            "labels are then predicted), or leave the cells out with obs_filter=…."
        )


def _read_features(experiment, ms: str, feature_column: str) -> tuple[np.ndarray, np.ndarray]:
    var = experiment.ms[ms].var.read(column_names=["soma_joinid", feature_column]).concat()
    var = var.to_pandas().sort_values("soma_joinid")
    names = var[feature_column].astype(str).to_numpy()
    duplicated = pd.Index(names)[pd.Index(names).duplicated()].unique()
    if len(duplicated):
        raise InvalidDataError(
            f"Feature names of measurement {ms!r} are not unique (e.g. {duplicated[:3].tolist()})"
            "; choose a feature_column with unique names."
        )
    return names, var["soma_joinid"].to_numpy()


def _counts_field(registry: dict, mod_key: str | None) -> tuple[str, pd.Index]:
    """Registry key and feature names of the counts of ``mod_key`` (``None``: ``X``)."""
    for key, field_mod_key, names in counts_fields(registry):
        if field_mod_key == mod_key:
            return key, names
    raise UnknownNameError(f"The registry has no counts field for {mod_key or 'X'!r}.")


def _in_reference_order(names, joinids, reference, key, ms) -> tuple[np.ndarray, np.ndarray]:
    _, wanted = _counts_field(reference.registry, key)
    have = pd.Index(names)
    if have.equals(wanted):
        return names, joinids
    missing, extra = wanted.difference(have), have.difference(wanted)
    if len(missing) or len(extra):
        raise FeatureMismatchError(
            f"The features of measurement {ms!r} differ from the model's: {len(missing)} of "
            f"the model's are missing (e.g. {missing[:3].tolist()}), {len(extra)} are not the "
            f"model's (e.g. {extra[:3].tolist()}). Write a store with the model's features "
            "(e.g. `si.data.write_soma` after `Model.prepare_query_anndata`)."
        )
    logger.info("Features of measurement %r are read in the model's order.", ms)
    order = have.get_indexer(wanted)
    return names[order], joinids[order]


def _x_locator(experiment, ms: str, layer: str):
    from tiledbsoma_ml.x_locator import XLocator

    return XLocator.create(experiment, measurement_name=ms, layer_name=layer)
