"""Linear decoder: latent factors -> gene logits through one named linear layer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from scvi_interpret.errors import InvalidArgumentError

from ._covariate_offsets import CovariateOffsets
from ._masked_linear import MaskedLinear


class LinearDecoder(nn.Module):
    r"""Linear map from latent factors to per-gene logits, covariates kept apart.

    .. math::

        \text{logits} = W z + b + \sum_c E_c[\text{category}_c] + C\,\text{continuous}

    ``W`` (``factor_loadings``, weights of shape (n_output, n_latent)) is the only place where
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
    program_mask
        Boolean tensor of shape (n_output, n_latent). If given, ``factor_loadings`` is a
        :class:`~scvi_interpret.nn.MaskedLinear`: latent node ``p`` acts only on the genes of
        program ``p`` (hard mask) or is penalised outside them (``soft_mask``).
    soft_mask
        Use the program mask as a soft mask.

    Examples
    --------
    >>> decoder = si.nn.LinearDecoder(n_latent=10, n_output=2000, n_cats_per_cov=[4])
    >>> decoder.factor_loadings.weight.shape  # genes × factors
    torch.Size([2000, 10])
    """

    def __init__(
        self,
        n_latent: int,
        n_output: int,
        n_cats_per_cov: Sequence[int] = (),
        n_continuous: int = 0,
        zero_inflation: bool = False,
        program_mask: torch.Tensor | None = None,
        soft_mask: bool = False,
    ):
        super().__init__()
        if program_mask is None:
            self.factor_loadings = nn.Linear(n_latent, n_output, bias=False)
        else:
            if tuple(program_mask.shape) != (n_output, n_latent):
                raise InvalidArgumentError(
                    f"program_mask has shape {tuple(program_mask.shape)}, expected "
                    f"{(n_output, n_latent)} (genes × latent nodes)."
                )
            self.factor_loadings = MaskedLinear(program_mask, soft=soft_mask)
        self.intercept = nn.Parameter(torch.zeros(n_output))
        self.covariate_offsets = CovariateOffsets(n_output, n_cats_per_cov, n_continuous)
        self.zero_inflation = nn.Linear(n_latent, n_output) if zero_inflation else None

    def loadings(self) -> torch.Tensor:
        """The factor → gene weights the decoder applies, shape (n_output, n_latent)."""
        layer = self.factor_loadings
        return layer.effective_weight() if isinstance(layer, MaskedLinear) else layer.weight

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
