"""scvi-tools models of scvi-interpret."""

from .linear_vi import LinearVAE, LinearVI

__all__ = ["LinearVAE", "LinearVI"]
