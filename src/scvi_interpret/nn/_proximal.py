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

    Examples
    --------
    >>> weight = torch.tensor([[0.5, -0.05], [0.02, 1.0]])
    >>> si.nn.soft_threshold_(weight, torch.ones_like(weight, dtype=torch.bool), 0.1)
    >>> weight
    tensor([[0.4000, -0.0000],
            [0.0000, 0.9000]])
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

    Examples
    --------
    >>> weight = torch.tensor([[3.0, 0.03], [4.0, 0.04]])  # column norms 5 and 0.05
    >>> si.nn.group_soft_threshold_(weight, torch.tensor([True, True]), 0.1)
    >>> weight
    tensor([[2.9400, 0.0000],
            [3.9200, 0.0000]])
    """
    norms = weight.norm(dim=0)
    factor = torch.clamp(1.0 - amount / norms.clamp_min(1e-12), min=0.0)
    factor = torch.where(columns, factor, torch.ones_like(factor))
    weight.mul_(factor)


class StepSizes:
    """Per-weight step sizes of an Adam-type optimiser, computed only where asked.

    ``lr / (sqrt(v / bias_correction) + eps)`` with ``v`` Adam's running mean of squared
    gradients; without ``exp_avg_sq`` every step is ``lr``.

    Parameters
    ----------
    lr
        Learning rate.
    exp_avg_sq
        Adam's ``exp_avg_sq`` state of the weight, or ``None``.
    bias_correction
        ``1 - beta2 ** step``.
    eps
        Adam's ``eps``.

    Examples
    --------
    >>> steps = si.nn.StepSizes(lr=1e-3)  # plain SGD-like step: lr everywhere
    >>> steps.everywhere(torch.zeros(2, 2))
    tensor([[0.0010, 0.0010],
            [0.0010, 0.0010]])
    """

    def __init__(
        self,
        lr: float,
        exp_avg_sq: torch.Tensor | None = None,
        bias_correction: float = 1.0,
        eps: float = 1e-8,
    ):
        self.lr, self.exp_avg_sq = lr, exp_avg_sq
        self.bias_correction, self.eps = bias_correction, eps

    def _from_squares(self, squares: torch.Tensor) -> torch.Tensor:
        return self.lr / ((squares / self.bias_correction).sqrt() + self.eps)

    def everywhere(self, like: torch.Tensor) -> torch.Tensor:
        """Step sizes of all weights, shape of ``like``."""
        if self.exp_avg_sq is None:
            return torch.full_like(like, self.lr)
        return self._from_squares(self.exp_avg_sq)

    def at(self, flat_index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Step sizes of the weights at ``flat_index`` (into ``like.view(-1)``), 1-D."""
        if self.exp_avg_sq is None:
            return torch.full(flat_index.shape, self.lr, dtype=like.dtype, device=like.device)
        return self._from_squares(self.exp_avg_sq.reshape(-1)[flat_index])
