"""scvi-tools models of scvi-interpret."""

from .linear_vi import LinearVAE, LinearVI
from .multimodal_classifier import ClassifierTrainingPlan, MultimodalClassifier, MultimodalVAE
from .program_vi import ProgramTrainingPlan, ProgramVAE, ProgramVI

__all__ = [
    "ClassifierTrainingPlan",
    "LinearVAE",
    "LinearVI",
    "MultimodalClassifier",
    "MultimodalVAE",
    "ProgramTrainingPlan",
    "ProgramVAE",
    "ProgramVI",
]
