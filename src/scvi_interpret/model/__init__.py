"""scvi-tools models of scvi-interpret."""

from .linear_vi import LinearVAE, LinearVI
from .program_vi import ProgramTrainingPlan, ProgramVAE, ProgramVI

__all__ = ["LinearVAE", "LinearVI", "ProgramTrainingPlan", "ProgramVAE", "ProgramVI"]
