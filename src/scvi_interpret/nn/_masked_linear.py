"""Bias-free linear layer whose weights are masked by prior gene programs."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class MaskedLinear(nn.Module):
    """Linear map ``x @ (W * M).T`` with a fixed boolean mask ``M`` (hard) or ``x @ W.T`` (soft).

    With a hard mask, weights outside the mask never act and are kept at exactly zero. With a
    soft mask, they act but are meant to be penalised (see
    :func:`~scvi_interpret.nn.soft_threshold_`), so that a program can gain genes.

    Parameters
    ----------
    mask
        Boolean tensor of shape (n_out, n_in): ``mask[g, p]`` says gene ``g`` is in program ``p``.
    soft
        Soft mask instead of a hard one.

    Examples
    --------
    >>> mask = torch.tensor([[1, 0], [1, 0], [0, 1]], dtype=torch.bool)  # 3 genes × 2 programs
    >>> layer = si.nn.MaskedLinear(mask)
    >>> bool((layer.effective_weight()[~mask] == 0).all())  # hard mask: zero outside programs
    True
    """

    def __init__(self, mask: torch.Tensor, soft: bool = False):
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        self.register_buffer("mask", mask)
        # the same mask as floats, so the product needs no conversion per step (not saved)
        self.register_buffer("mask_values", mask.to(torch.float32), persistent=False)
        self.soft = soft
        self.weight = nn.Parameter(torch.empty(mask.shape))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        with torch.no_grad():
            # outside the programs start at zero (soft: genes are gained only if the data ask)
            self.weight.mul_(self.mask_values)

    @property
    def in_features(self) -> int:
        """Number of inputs (latent nodes)."""
        return self.mask.shape[1]

    @property
    def out_features(self) -> int:
        """Number of outputs (genes)."""
        return self.mask.shape[0]

    def effective_weight(self) -> torch.Tensor:
        """The weights the layer applies, shape (n_out, n_in)."""
        return self.weight if self.soft else self.weight * self.mask_values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer to ``x`` of shape (…, n_in); returns shape (…, n_out)."""
        return F.linear(x, self.effective_weight())
