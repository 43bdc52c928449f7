"""How cells reach a model when they are not one in-memory AnnData.

:class:`SomaDataModule` reads a TileDB-SOMA experiment (one measurement per modality) in
minibatches, for training (also under DDP), inference and reference mapping;
:func:`write_soma` writes an AnnData or MuData to such a store. On-disk AnnData (``.h5ad``
opened with ``backed="r"``) needs no adapter: the models take it like an in-memory one.
"""

from ._soma import SomaDataModule
from ._write import write_soma

__all__ = ["SomaDataModule", "write_soma"]
