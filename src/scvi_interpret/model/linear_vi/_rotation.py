"""Varimax rotation of a linear decoder's factors.

The prior N(0, I) is rotation invariant: ``W R`` with ``z R`` (R orthogonal) gives the
decoder the same logits and the ELBO the same prior term, so the likelihood does not pick
the axes. Varimax (Kaiser 1958) picks the rotation whose loadings are most concentrated:
each gene loads on few factors, each factor on few genes.

Written here rather than imported: statsmodels' ``rotate_factors(A, "varimax")`` (gradient
projection) takes ~47 s for 2,000 genes × 20 factors; scikit-learn's SVD iteration is
private (``sklearn.decomposition._factor_analysis._ortho_rotation``). This is that
iteration — O(n_genes · n_factors²) per step, independent of the number of cells.
"""

from __future__ import annotations

import numpy as np


def varimax_rotation(loadings: np.ndarray, tol: float = 1e-8, max_iter: int = 500) -> np.ndarray:
    """Orthogonal rotation maximising the varimax criterion of ``loadings @ rotation``.

    Raw varimax (no Kaiser row normalisation), started from the identity, so that the
    result is a deterministic function of ``loadings``. Factors are then ordered by their
    sum of squared loadings (largest first) and signed so that each factor's loadings are
    skewed positive (its largest loadings positive).

    Parameters
    ----------
    loadings
        Shape (n_genes, n_factors).
    tol
        Stop when the criterion grows by less than this relative amount.
    max_iter
        Largest number of iterations.

    Returns
    -------
    Orthogonal array of shape (n_factors, n_factors).
    """
    loadings = np.asarray(loadings, dtype=np.float64)
    n_genes, n_factors = loadings.shape
    rotation = np.eye(n_factors)
    criterion = 0.0
    for _ in range(max_iter):
        rotated = loadings @ rotation
        target = rotated**3 - rotated * ((rotated**2).sum(axis=0) / n_genes)
        left, singular, right = np.linalg.svd(loadings.T @ target)
        rotation = left @ right
        previous, criterion = criterion, singular.sum()
        if previous != 0 and criterion < previous * (1 + tol):
            break
    rotated = loadings @ rotation
    order = np.argsort(-(rotated**2).sum(axis=0), kind="stable")
    signs = np.where((rotated[:, order] ** 3).sum(axis=0) < 0, -1.0, 1.0)
    return rotation[:, order] * signs
