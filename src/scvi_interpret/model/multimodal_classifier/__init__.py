"""MultimodalClassifier: multi-task VAE and classifier over MuData (model and module)."""

from ._model import MultimodalClassifier
from ._module import MultimodalVAE
from ._training_plan import ClassifierTrainingPlan

__all__ = ["ClassifierTrainingPlan", "MultimodalClassifier", "MultimodalVAE"]
