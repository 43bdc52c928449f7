"""Proximal steps that give exact zeros: L1 (soft thresholding) and group lasso."""

from __future__ import annotations

import torch


@torch.no_grad()
def soft_threshold_(
    weight: torch.Tensor, where: torch.Tensor, amount: float | torch.Tensor
) -> None:
    """In place: shrink ``weight[where]`` towards zero by ``amount``; smaller ones become 0.

    The proximal operator of ``amount * |w|_1``.

    Parameters
    ----------
    weight
        Tensor of shape (n_out, n_in), changed in place.
    where
        Boolean tensor of the same shape: the entries to shrink.
    amount
        Step size × penalty strength: a number, or a tensor of ``weight``'s shape (one step
        size per entry, e.g. Adam's).
    """
    shrunk = torch.sign(weight) * torch.clamp(weight.abs() - amount, min=0.0)
    weight.copy_(torch.where(where, shrunk, weight))


@torch.no_grad()
def group_soft_threshold_(
    weight: torch.Tensor, columns: torch.Tensor, amount: float | torch.Tensor
) -> None:
    """In place: shrink the L2 norm of each selected column by ``amount``; small ones become 0.

    The proximal operator of the group lasso ``amount * sum_p ||w[:, p]||_2``.

    Parameters
    ----------
    weight
        Tensor of shape (n_out, n_in), changed in place; each column is one group.
    columns
        Boolean tensor of shape (n_in,): the columns to shrink.
    amount
        Step size × penalty strength: a number, or a tensor of shape (n_in,) (one per column).
    """
    norms = weight.norm(dim=0)
    factor = torch.clamp(1.0 - amount / norms.clamp_min(1e-12), min=0.0)
    factor = torch.where(columns, factor, torch.ones_like(factor))
    weight.mul_(factor)
