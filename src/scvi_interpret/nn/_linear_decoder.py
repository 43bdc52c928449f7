"""Linear decoder: latent factors -> gene logits through one named linear layer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._covariate_offsets import CovariateOffsets


class LinearDecoder(nn.Module):
    r"""Linear map from latent factors to per-gene logits, covariates kept apart.

    .. math::

        \text{logits} = W z + b + \sum_c E_c[\text{category}_c] + C\,\text{continuous}

    ``W`` (``factor_loadings.weight``, shape (n_output, n_latent)) is the only place where
    the latent factors act, so it is exactly the factor → gene map. No normalisation layer
    sits between ``W z`` and the output.

    Parameters
    ----------
    n_latent
        Number of latent factors.
    n_output
        Number of genes.
    n_cats_per_cov
        Categories of each categorical covariate, the batch first.
    n_continuous
        Number of continuous covariates.
    zero_inflation
        Also return zero-inflation logits (ZINB), from their own linear map of ``z``.
    """

    def __init__(
        self,
        n_latent: int,
        n_output: int,
        n_cats_per_cov: Sequence[int] = (),
        n_continuous: int = 0,
        zero_inflation: bool = False,
    ):
        super().__init__()
        self.factor_loadings = nn.Linear(n_latent, n_output, bias=False)
        self.intercept = nn.Parameter(torch.zeros(n_output))
        self.covariate_offsets = CovariateOffsets(n_output, n_cats_per_cov, n_continuous)
        self.zero_inflation = nn.Linear(n_latent, n_output) if zero_inflation else None

    def forward(
        self,
        z: torch.Tensor,
        categorical: Sequence[torch.Tensor] = (),
        continuous: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decode.

        Parameters
        ----------
        z
            Latent factors, shape (n_cells, n_latent) or (n_samples, n_cells, n_latent).
        categorical
            One code tensor of shape (n_cells, 1) per categorical covariate.
        continuous
            Continuous covariates, shape (n_cells, n_continuous), or ``None``.

        Returns
        -------
        logits
            Unnormalised log expression, same leading shape as ``z``, last dim n_output.
        zi_logits
            Zero-inflation logits of the same shape, or ``None`` without zero inflation.
        """
        offsets = self.covariate_offsets(categorical, continuous)
        logits = self.factor_loadings(z) + self.intercept + offsets
        zi_logits = self.zero_inflation(z) if self.zero_inflation is not None else None
        return logits, zi_logits
