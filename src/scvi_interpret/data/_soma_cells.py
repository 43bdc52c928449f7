"""Minibatches of cells from one or several measurements of a SOMA experiment.

tiledbsoma-ml's :class:`~tiledbsoma_ml.ExperimentDataset` reads one measurement: it
partitions cells across DDP ranks and data-loader workers, shuffles in chunks and reads in IO
batches. A multimodal model needs several measurements of the same cells, so one dataset per
measurement is built over the same cells with the same seed: they then yield the same cells
in the same order, which is checked on every minibatch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from scvi_interpret.errors import InvalidDataError
from scvi_interpret.model.base._count_statistics import check_count_values


@dataclass
class MeasurementReader:
    """Where one modality's counts live: an X layer of a measurement, and its feature order.

    Attributes
    ----------
    registry_key
        Key of the counts in the model's registry (``"X"``, or ``"X_<modality>"``).
    x_locator
        :class:`tiledbsoma_ml.XLocator` of the X layer.
    var_joinids
        ``soma_joinid`` of the features, in the model's feature order, shape (n_features,).
    """

    registry_key: str
    x_locator: object
    var_joinids: np.ndarray


@dataclass
class SomaCells(IterableDataset):
    """Registry-keyed minibatch tensors of chosen cells, read from a SOMA experiment.

    Attributes
    ----------
    readers
        One :class:`MeasurementReader` per modality.
    obs_joinids
        ``soma_joinid`` of every cell of the data module, sorted, shape (n_cells,).
    positions
        Cells to read (positions in ``obs_joinids``), in the order to read them without
        shuffling.
    codes
        Registry key -> per-cell codes (batch, labels, covariates), rows as ``obs_joinids``.
    batch_size, io_batch_size, shuffle_chunk_size
        As in :class:`tiledbsoma_ml.ExperimentDataset`.
    shuffle
        Shuffle (in chunks) each epoch; without it cells come in the order of ``positions``.
    seed
        Shuffling seed; epoch ``e`` uses ``seed + e`` (the same on every DDP rank).
    single_process
        Read every cell in this process even under DDP (inference).
    check_values
        Check every minibatch for non-count values and cells without counts (for data not
        checked beforehand).
    """

    readers: list[MeasurementReader]
    obs_joinids: np.ndarray
    positions: np.ndarray
    codes: Mapping[str, np.ndarray]
    batch_size: int = 128
    io_batch_size: int = 2**14
    shuffle_chunk_size: int = 64
    shuffle: bool = False
    seed: int = 0
    single_process: bool = False
    check_values: bool = False
    epoch: int = field(default=0)

    def __post_init__(self):
        super().__init__()

    def _datasets(self) -> list:
        from tiledbsoma_ml import ExperimentDataset
        from tiledbsoma_ml._query_ids import QueryIDs

        io_batch_size = self.io_batch_size
        if self.shuffle:  # tiledbsoma-ml needs a multiple of the shuffle chunk
            io_batch_size = max(io_batch_size // self.shuffle_chunk_size, 1)
            io_batch_size *= self.shuffle_chunk_size
        datasets = []
        for reader in self.readers:
            dataset = ExperimentDataset(
                x_locator=reader.x_locator,
                query_ids=QueryIDs(
                    obs_joinids=self.obs_joinids[self.positions], var_joinids=reader.var_joinids
                ),
                batch_size=self.batch_size,
                io_batch_size=io_batch_size,
                shuffle=self.shuffle,
                shuffle_chunk_size=self.shuffle_chunk_size,
                seed=self.seed + self.epoch,
            )
            if self.single_process:
                object.__setattr__(dataset, "rank", 0)
                object.__setattr__(dataset, "world_size", 1)
            datasets.append(dataset)
        return datasets

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        datasets = self._datasets()
        for parts in zip(*datasets, strict=True):
            joinids = parts[0][1]["soma_joinid"].to_numpy()
            for _, obs in parts[1:]:
                if not np.array_equal(obs["soma_joinid"].to_numpy(), joinids):
                    raise RuntimeError(
                        "The measurements of the SOMA experiment yielded different cells in one "
                        "minibatch; their readers must share cells, seed and batch sizes."
                    )
            rows = np.searchsorted(self.obs_joinids, joinids)
            tensors = {}
            totals = np.zeros(len(rows))
            for reader, (x, _) in zip(self.readers, parts, strict=True):
                x = np.atleast_2d(x)
                if self.check_values:
                    where = f"X of measurement {reader.x_locator.measurement_name!r}"
                    check_count_values(x, where)
                    totals += x.sum(axis=1)
                tensors[reader.registry_key] = torch.from_numpy(x).float()
            if self.check_values and (totals <= 0).any():
                raise InvalidDataError(
                    f"{int((totals <= 0).sum())} cell(s) read from the SOMA experiment have no "
                    f"counts (soma_joinid {joinids[totals <= 0][:3].tolist()}…). Leave them out "
                    "with obs_filter=… or remove them from the store."
                )
            for key, values in self.codes.items():
                tensors[key] = torch.from_numpy(_as_tensor_dtype(values[rows]))
            yield tensors

    def __len__(self) -> int:
        return len(self._datasets()[0])


class EpochDataLoader(DataLoader):
    """A :class:`~torch.utils.data.DataLoader` that starts each epoch with a new shuffle.

    The epoch counter of its :class:`SomaCells` is advanced at the start of every pass after
    the first, so every DDP rank shuffles the same way in the same epoch. Cells are read in
    this process (tiledbsoma-ml prefetches the next IO batch in a thread).
    """

    def __init__(self, cells: SomaCells):
        self._started = False
        super().__init__(cells, batch_size=None, shuffle=False, num_workers=0, collate_fn=_keep)

    def __iter__(self):
        if self._started:
            self.dataset.epoch += 1
        self._started = True
        return super().__iter__()


def _keep(batch):
    return batch


def _as_tensor_dtype(values: np.ndarray) -> np.ndarray:
    """Codes as int64 (what scvi-tools' loaders give), other values as float32."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.integer) or values.dtype == bool:
        return values.astype(np.int64)
    return values.astype(np.float32)
