"""LinearVI: linear-decoder VAE (model class and torch module)."""

from ._model import LinearVI
from ._module import LinearVAE

__all__ = ["LinearVAE", "LinearVI"]
