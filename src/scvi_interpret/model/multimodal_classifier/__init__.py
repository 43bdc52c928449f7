"""MultimodalClassifier: multi-task VAE and classifier over MuData (model and module)."""

from ._model import MultimodalClassifier
from ._module import MultimodalVAE

__all__ = ["MultimodalClassifier", "MultimodalVAE"]
