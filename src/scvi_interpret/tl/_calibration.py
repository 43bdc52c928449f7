"""Calibration of class probabilities: temperature scaling and expected calibration error."""

from __future__ import annotations

import numpy as np
import torch

from scvi_interpret.errors import InvalidArgumentError


def fit_temperature(logits: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> float:
    """Temperature that minimises the negative log-likelihood of held-out labels.

    Temperature scaling (Guo et al., 2017) divides the logits by one positive number; it
    changes how confident the probabilities are, never which class is predicted.

    Parameters
    ----------
    logits
        Shape (n_cells, n_classes), on cells the classifier was not trained on.
    labels
        Integer class codes, shape (n_cells,).

    Returns
    -------
    The temperature (> 0).

    Examples
    --------
    Logits that are three times too confident are calibrated by T ≈ 3.

    >>> rng = np.random.default_rng(0)
    >>> true_logits = rng.normal(size=(5000, 4)) * 2
    >>> labels = np.array([rng.choice(4, p=np.exp(l) / np.exp(l).sum()) for l in true_logits])
    >>> round(si.tl.fit_temperature(3 * true_logits, labels), 1)
    3.0
    """
    logits = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if len(logits) == 0:
        raise InvalidArgumentError(
            "Temperature scaling needs at least one labelled held-out cell."
        )
    log_temperature = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_temperature], lr=0.1, max_iter=200,
                                  line_search_fn="strong_wolfe")  # fmt: skip

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_temperature.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_temperature.detach().clamp(-5, 5).exp())


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 15
) -> float:
    """Expected calibration error of the top-class probability.

    Cells are put into ``n_bins`` equal-width bins by their highest probability; the error is
    the cell-weighted mean over bins of ``|accuracy - mean confidence|``.

    Parameters
    ----------
    probabilities
        Shape (n_cells, n_classes), rows summing to 1.
    labels
        Integer class codes (columns of ``probabilities``), shape (n_cells,).
    n_bins
        Number of confidence bins.

    Returns
    -------
    A number in [0, 1]; 0 is perfectly calibrated.

    Examples
    --------
    >>> probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    >>> labels = np.array([0, 0, 1, 1])
    >>> round(si.tl.expected_calibration_error(probabilities, labels, n_bins=5), 3)
    0.15
    """
    probabilities = np.asarray(probabilities, dtype=float)
    labels = np.asarray(labels)
    if len(probabilities) == 0:
        raise InvalidArgumentError("No cells to score.")
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == labels
    # kept by hand: sklearn's calibration_curve returns per-bin means but not the bin sizes
    # the ECE is weighted by, so using it would mean re-deriving its bins here anyway
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    error = 0.0
    for b in np.unique(bins):
        inside = bins == b
        error += inside.sum() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error / len(labels))
