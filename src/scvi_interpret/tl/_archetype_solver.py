"""Archetypal analysis in torch: simplex projection, convex weights, a PCHA-style fit."""

from __future__ import annotations

import torch


def project_simplex(values: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row onto the probability simplex (Duchi et al. 2008).

    Parameters
    ----------
    values
        Shape (n, k).

    Returns
    -------
    Shape (n, k): non-negative rows that sum to 1, each the nearest such point to its row.
    """
    ordered, _ = torch.sort(values, dim=1, descending=True)
    cumulative = ordered.cumsum(1) - 1.0
    positions = torch.arange(1, values.shape[1] + 1, device=values.device, dtype=values.dtype)
    support = (ordered - cumulative / positions > 0).sum(1, keepdim=True)
    threshold = cumulative.gather(1, support - 1) / support.to(values.dtype)
    return (values - threshold).clamp(min=0.0)


def convex_weights(
    points: torch.Tensor,
    archetypes: torch.Tensor,
    start: torch.Tensor | None = None,
    max_iter: int = 500,
    tol: float = 1e-5,
) -> torch.Tensor:
    """Each point's convex weights on the archetypes: ``argmin_a ||x - a Z||²`` on the simplex.

    Accelerated projected gradient (FISTA with adaptive restart) on the k × k Gram matrix, so
    one iteration costs O(n k²) whatever the latent dimension.

    Parameters
    ----------
    points
        Shape (n, d).
    archetypes
        Shape (k, d).
    start
        Starting weights (n, k); default uniform.
    max_iter, tol
        Stop after ``max_iter`` iterations or when no weight moves more than ``tol``.

    Returns
    -------
    Shape (n, k), rows on the simplex.
    """
    gram = archetypes @ archetypes.T  # (k, k)
    linear = points @ archetypes.T  # (n, k)
    step = 1.0 / max(float(torch.linalg.eigvalsh(gram).max()), 1e-12)
    k = archetypes.shape[0]
    weights = torch.full_like(linear, 1.0 / k) if start is None else start.clone()
    momentum, t = weights.clone(), 1.0
    for iteration in range(max_iter):
        gradient = momentum @ gram - linear
        updated = project_simplex(momentum - step * gradient)
        # restart the momentum of rows whose objective went up (O'Donoghue & Candès 2015)
        going_up = ((updated - weights) * gradient).sum(1, keepdim=True) > 0
        t_next = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
        accelerated = updated + (t - 1.0) / t_next * (updated - weights)
        momentum = torch.where(going_up, updated, accelerated)
        change = (updated - weights).abs().max() if iteration % 10 == 0 else None
        weights, t = updated, t_next
        if change is not None and float(change) < tol:
            break
    return weights


def _loss(points, sample_weights, weights, archetypes) -> float:
    residual = points - weights @ archetypes
    return float((sample_weights * (residual * residual).sum(1)).sum())


def furthest_sum(points: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of ``k`` far-apart points (FurthestSum, Mørup & Hansen 2012)."""
    first = int(torch.randint(len(points), (1,), generator=generator))
    chosen = [first]
    distance = torch.cdist(points, points[first : first + 1]).squeeze(1)
    taken = torch.zeros(len(points), dtype=torch.bool, device=points.device)
    taken[first] = True
    # the random start only points the way: it is not one of the k (as in FurthestSum)
    for _ in range(k):
        candidate = int(torch.argmax(distance.masked_fill(taken, -1.0)))
        chosen.append(candidate)
        taken[candidate] = True
        distance = distance + torch.cdist(points, points[candidate : candidate + 1]).squeeze(1)
    return torch.as_tensor(chosen[1:], device=points.device)


def fit_archetypes(
    points: torch.Tensor,
    k: int,
    sample_weights: torch.Tensor | None = None,
    seed: int = 0,
    max_iter: int = 500,
    tol: float = 1e-4,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Archetypes ``Z = B X`` (rows of B on the simplex) minimising ``Σ w_i ||x_i - a_i Z||²``.

    Alternating projected gradient with adaptive steps (the PCHA scheme of Mørup & Hansen 2012):
    the cell weights A by :func:`convex_weights` warm-started, the archetype weights B by
    projected gradient steps that grow while the loss falls and halve otherwise. Started
    from FurthestSum.

    Parameters
    ----------
    points
        Shape (n, d) (float64 recommended).
    k
        Number of archetypes.
    sample_weights
        Weight of each point (n,), e.g. coreset weights; default 1.
    seed
        Seed of the FurthestSum start.
    max_iter, tol
        Stop after ``max_iter`` alternations or when the loss falls by less than ``tol``
        (relative).

    Returns
    -------
    ``(archetypes (k, d), weights (n, k), loss)``.
    """
    n = len(points)
    if sample_weights is None:
        sample_weights = torch.ones(n, dtype=points.dtype)
    sample_weights = sample_weights.to(points)
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.zeros(k, n, dtype=points.dtype, device=points.device)
    mixing[torch.arange(k), furthest_sum(points, k, generator)] = 1.0
    archetypes = mixing @ points
    weights = convex_weights(points, archetypes, max_iter=50)
    loss, step = _loss(points, sample_weights, weights, archetypes), 1.0
    for _ in range(max_iter):
        # archetype step: gradient of the loss in B, projected; step adapted by backtracking
        residual = sample_weights[:, None] * (weights @ archetypes - points)  # (n, d)
        gradient = (weights.T @ residual) @ points.T  # (k, n)
        gradient = gradient / (gradient.norm() + 1e-30) * (mixing.norm() + 1e-30)
        for _ in range(20):
            trial = project_simplex(mixing - step * gradient)
            trial_archetypes = trial @ points
            trial_loss = _loss(points, sample_weights, weights, trial_archetypes)
            if trial_loss <= loss:
                mixing, archetypes, step = trial, trial_archetypes, step * 1.2
                break
            step /= 2
        weights = convex_weights(points, archetypes, start=weights, max_iter=10)
        new_loss = _loss(points, sample_weights, weights, archetypes)
        if loss - new_loss < tol * max(loss, 1e-30):
            loss = new_loss
            break
        loss = new_loss
    return archetypes, weights, loss
