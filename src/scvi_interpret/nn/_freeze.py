"""Let only the trailing part of a parameter learn (query mapping)."""

from __future__ import annotations

import torch


def train_only_beyond(param: torch.nn.Parameter, n_frozen: int, dim: int = 0) -> None:
    """Make ``param`` trainable except its first ``n_frozen`` slices along ``dim``.

    A gradient hook zeroes the gradient of the frozen slices; train with weight decay 0 so
    that they stay exactly as they are.

    Parameters
    ----------
    param
        The parameter, e.g. an embedding table of shape (n_categories, n_genes).
    n_frozen
        Leading slices to freeze (the reference's categories or nodes).
    dim
        Axis of the slices.
    """
    param.requires_grad_(True)

    def hook(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        grad.narrow(dim, 0, n_frozen).zero_()
        return grad

    param.register_hook(hook)
