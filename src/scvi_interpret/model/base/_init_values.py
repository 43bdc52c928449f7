"""Start values computed from the data before training."""

from __future__ import annotations

import warnings

import torch

from scvi_interpret.errors import ScviInterpretWarning

from ._count_statistics import STATISTICS_KEY, count_statistics, log_frequencies_tensor


def gene_log_frequencies(counts) -> torch.Tensor:
    """Log of each gene's mean share of a cell's counts.

    Parameters
    ----------
    counts
        Dense array, sparse matrix or backed (on-disk) matrix of shape (n_cells, n_genes),
        read in blocks of rows.

    Returns
    -------
    Tensor of shape (n_genes,), float32; genes never observed get log(1e-8).
    """
    return log_frequencies_tensor(count_statistics(counts))


NO_STATISTICS = "The registry has no count statistics"


def registered_statistics(model, registry_key: str = "X") -> dict | None:
    """Count statistics of a counts field for building a model's module.

    In memory they are computed from the registered matrix; a model built from a registry
    (data on disk) reads those the data module stored in it (``None``, with a warning, when
    there are none, e.g. a registry from scvi-tools' own ``TileDBDataModule``).

    Parameters
    ----------
    model
        An scvi-tools model during ``__init__``.
    registry_key
        The counts field, ``"X"`` or ``"X_<modality>"``.

    Returns
    -------
    ``{"log_frequencies": tensor (n_features,), "mean_count": float, "max_count": float or
    None}`` (``max_count`` ``None`` for statistics stored before it existed), or ``None``.
    """
    if model.adata is not None:
        statistics = count_statistics(model.adata_manager.get_from_registry(registry_key))
        return {"log_frequencies": log_frequencies_tensor(statistics),
                "mean_count": statistics.mean_count(),
                "max_count": statistics.max_count}  # fmt: skip
    stored = model.registry_.get(STATISTICS_KEY, {}).get(registry_key)
    if stored is None:
        warnings.warn(
            f"{NO_STATISTICS} (it does not come from "
            "si.data.SomaDataModule): the decoder starts from equal feature frequencies, "
            "which trains more slowly.",
            ScviInterpretWarning,
            stacklevel=3,
        )
        return None
    return {"log_frequencies": log_frequencies_tensor(stored),
            "mean_count": float(stored["mean_count"]),
            "max_count": stored.get("max_count")}  # fmt: skip
