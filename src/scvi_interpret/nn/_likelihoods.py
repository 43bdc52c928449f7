"""Count log-likelihoods computed where they cost: the gamma terms only on non-zero counts."""

from __future__ import annotations

import torch


def nb_log_prob(
    x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor, eps: float = 1e-8
) -> torch.Tensor:
    r"""Negative binomial log-likelihood, elementwise, the same value as scvi-tools'.

    .. math::

        \log p(x) = \theta \log\frac{\theta}{\theta+\mu} + x \log\frac{\mu}{\theta+\mu}
        + \log\Gamma(x+\theta) - \log\Gamma(\theta) - \log\Gamma(x+1)

    The three gamma terms cancel exactly where ``x == 0``, so they (and their ``digamma``
    gradients, the most expensive part of a training step) are computed on the non-zero
    counts only; single-cell counts are mostly zeros.

    Parameters
    ----------
    x
        Counts, shape (…, n_cells, n_genes).
    mu
        Means, same shape as ``x``.
    theta
        Inverse dispersions, broadcastable to ``x`` (e.g. shape (n_genes,)).
    eps
        Numerical floor inside the logs, as in scvi-tools.

    Returns
    -------
    Tensor of the shape of ``mu``.

    Examples
    --------
    >>> x, mu, theta = torch.tensor([0.0, 3.0]), torch.tensor([2.0, 2.0]), torch.tensor([5.0, 5.0])
    >>> si.nn.nb_log_prob(x, mu, theta)
    tensor([-1.6824, -1.8853])
    """
    log_theta_mu = torch.log(theta + mu + eps)
    result = theta * (torch.log(theta + eps) - log_theta_mu) + x * (
        torch.log(mu + eps) - log_theta_mu
    )
    # positions of the non-zero counts, found once and reused by every gather below
    where = torch.nonzero(x.expand_as(result) > 0, as_tuple=True)
    counts = x.expand_as(result)[where]
    theta_nz = theta[where[-1]] if theta.dim() == 1 else theta.expand_as(result)[where]
    gamma_terms = (
        torch.lgamma(counts + theta_nz) - torch.lgamma(theta_nz) - torch.lgamma(counts + 1)
    )
    return result.index_put(where, gamma_terms, accumulate=True)
