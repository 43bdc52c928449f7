"""Joint posterior of several modality encoders: a product of Gaussian experts."""

from __future__ import annotations

import torch


def product_of_experts(
    means: torch.Tensor, variances: torch.Tensor, present: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Combine per-modality Gaussian posteriors with a standard normal prior expert.

    .. math::

        \Lambda = 1 + \sum_m p_m / \sigma^2_m, \qquad
        \mu = \Lambda^{-1} \sum_m p_m \mu_m / \sigma^2_m

    with :math:`p_m \in \{0, 1\}` whether cell has modality :math:`m`. A missing modality
    contributes nothing, so a cell seen through one modality gets that modality's expert
    (shrunk towards the prior), and a cell with none gets the prior.

    Parameters
    ----------
    means, variances
        Shape (n_modalities, n_cells, n_latent).
    present
        Shape (n_cells, n_modalities), 1 where the cell has the modality, else 0.

    Returns
    -------
    Joint mean and variance, each of shape (n_cells, n_latent).

    Examples
    --------
    Two experts (rows: modalities) for one cell, the second not measured:

    >>> means = torch.tensor([[[2.0]], [[-5.0]]])  # modalities × cells × latent
    >>> variances = torch.tensor([[[1.0]], [[1.0]]])
    >>> present = torch.tensor([[1.0, 0.0]])  # cells × modalities
    >>> mean, variance = si.nn.product_of_experts(means, variances, present)
    >>> mean, variance  # with the N(0, 1) prior expert: precision 2
    (tensor([[1.]]), tensor([[0.5000]]))
    """
    weight = present.T.unsqueeze(-1).to(means.dtype)  # (n_modalities, n_cells, 1)
    precision = weight / variances
    joint_precision = 1.0 + precision.sum(0)
    joint_mean = (precision * means).sum(0) / joint_precision
    return joint_mean, 1.0 / joint_precision


def drop_modalities(
    present: torch.Tensor, rate: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Hide modalities of cells that have several, so each expert also learns alone.

    Each cell with at least two modalities keeps all of them with probability ``1 - rate``;
    otherwise one random non-empty proper subset of its modalities is kept. Cells with a single
    modality keep it.

    Parameters
    ----------
    present
        Shape (n_cells, n_modalities), 1 where the cell has the modality.
    rate
        Share of multi-modality cells that lose some modalities.
    generator
        Random generator (default torch's global one).

    Returns
    -------
    The mask actually given to the encoders, same shape and dtype as ``present``.

    Examples
    --------
    >>> present = torch.ones(1000, 2)
    >>> kept = si.nn.drop_modalities(present, rate=0.3, generator=torch.Generator().manual_seed(0))
    >>> bool((kept.sum(1) >= 1).all())  # never hides every modality of a cell
    True
    >>> round(float((kept.sum(1) < 2).float().mean()), 1)
    0.3
    """
    if rate <= 0 or present.shape[1] < 2:
        return present
    has = present > 0
    device = present.device
    dropped = torch.rand(len(present), generator=generator).to(device) < rate
    dropped &= has.sum(1) >= 2
    if not bool(dropped.any()):
        return present
    # a random subset per cell: keep each present modality with probability 1/2, redrawn
    # until the subset is non-empty and proper (at most a few draws)
    keep = has.clone()
    todo = dropped.clone()
    while bool(todo.any()):
        draw = torch.rand(present.shape, generator=generator).to(device) < 0.5
        draw &= has
        n_kept = draw.sum(1)
        ok = todo & (n_kept >= 1) & (n_kept < has.sum(1))
        keep[ok] = draw[ok]
        todo &= ~ok
    return keep.to(present.dtype)
