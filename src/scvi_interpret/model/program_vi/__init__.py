"""ProgramVI: gene-program-masked linear-decoder VAE."""

from ._model import ProgramVI
from ._module import ProgramVAE
from ._training_plan import ProgramTrainingPlan

__all__ = ["ProgramTrainingPlan", "ProgramVAE", "ProgramVI"]
