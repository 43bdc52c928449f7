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

    Examples
    --------
    Reference mapping: the first 2 rows (reference batches) stay frozen, new rows learn.

    >>> table = torch.nn.Parameter(torch.ones(3, 4))
    >>> si.nn.train_only_beyond(table, n_frozen=2)
    >>> table.sum().backward()
    >>> table.grad[:, 0]
    tensor([0., 0., 1.])
    """
    param.requires_grad_(True)

    def hook(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        grad.narrow(dim, 0, n_frozen).zero_()
        return grad

    param.register_hook(hook)
