"""Interpretable scvi-tools models and one shared interpretability toolkit.

Submodules are imported on first access, so ``import scvi_interpret`` stays fast:

>>> import scvi_interpret as si
>>> si.model.LinearVI  # imports scvi-tools and torch only now
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

try:
    __version__ = version("scvi-interpret")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

_SUBMODULES = ("data", "datasets", "errors", "genesets", "model", "nn", "pl", "tl")

__all__ = ["__version__", *_SUBMODULES]

if TYPE_CHECKING:
    from . import data, datasets, errors, genesets, model, nn, pl, tl  # noqa: F401


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
