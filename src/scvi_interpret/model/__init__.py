"""scvi-tools models of scvi-interpret."""

from .linear_vi import LinearVAE, LinearVI
from .multimodal_classifier import MultimodalClassifier, MultimodalVAE
from .program_vi import ProgramTrainingPlan, ProgramVAE, ProgramVI

__all__ = [
    "LinearVAE",
    "LinearVI",
    "MultimodalClassifier",
    "MultimodalVAE",
    "ProgramTrainingPlan",
    "ProgramVAE",
    "ProgramVI",
]
