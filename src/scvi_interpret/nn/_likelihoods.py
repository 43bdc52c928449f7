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
    counts only; single-cell counts are mostly zeros. With one ``theta`` per gene,
    :math:`\log\Gamma(\theta)` is computed once per gene and gathered.

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
    if theta.dim() == 1:  # one per gene: log Γ(θ) once per gene, then gathered
        theta_nz, lgamma_theta_nz = theta[where[-1]], torch.lgamma(theta)[where[-1]]
    else:
        theta_nz = theta.expand_as(result)[where]
        lgamma_theta_nz = torch.lgamma(theta_nz)
    gamma_terms = torch.lgamma(counts + theta_nz) - lgamma_theta_nz - torch.lgamma(counts + 1)
    return result.index_put(where, gamma_terms, accumulate=True)


def binary_poisson_log_prob(x: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    r"""Log-likelihood of binary data as a thresholded Poisson, :math:`P(x=1) = 1 - e^{-\lambda}`.

    .. math::

        \log p(x) = x \log(1 - e^{-\lambda}) - (1 - x)\,\lambda

    The observation model of binarised accessibility (a peak is seen open when at least one
    fragment falls in it, fragments Poisson with rate :math:`\lambda`): a Bernoulli with the
    complementary log-log link, on the same decoder and observed library as a Poisson model.
    The logarithm is taken at the non-zero entries only (binary peak data are mostly zeros).

    Parameters
    ----------
    x
        Binary data (0/1), shape (…, n_cells, n_features); values above 1 count as 1.
    rate
        Poisson rates, same shape.

    Returns
    -------
    Tensor of the shape of ``rate``.

    Examples
    --------
    >>> si.nn.binary_poisson_log_prob(torch.tensor([0.0, 1.0]), torch.tensor([0.5, 0.5]))
    tensor([-0.5000, -0.9328])
    """
    # -rate everywhere, and log(1 - exp(-rate)) at the open entries only (a few % of them)
    result = -rate
    where = torch.nonzero(x.expand_as(result) > 0, as_tuple=True)
    open_rates = rate[where].clamp(min=1e-8)
    return result.index_put(where, torch.log(-torch.expm1(-open_rates)))
