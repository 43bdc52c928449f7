"""Temperature scaling and expected calibration error."""

from __future__ import annotations

import numpy as np

from scvi_interpret.tl import expected_calibration_error, fit_temperature


def _sample(rng, n, temperature):
    """Labels drawn from softmax(z); logits handed over as z * temperature."""
    z = rng.normal(0, 2, size=(n, 5))
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    labels = np.array([rng.choice(5, p=row) for row in p])
    return z * temperature, labels, p


def test_fitted_temperature_recovers_the_planted_one():
    rng = np.random.default_rng(0)
    logits, labels, _ = _sample(rng, 4000, 2.5)
    assert abs(fit_temperature(logits, labels) - 2.5) < 0.2


def test_ece_is_low_for_calibrated_and_high_for_overconfident_probabilities():
    rng = np.random.default_rng(1)
    logits, labels, calibrated = _sample(rng, 4000, 3.0)
    overconfident = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert expected_calibration_error(calibrated, labels) < 0.03
    assert expected_calibration_error(overconfident, labels) > 0.1
    scaled = logits / fit_temperature(logits, labels)
    rescaled = np.exp(scaled) / np.exp(scaled).sum(1, keepdims=True)
    assert expected_calibration_error(rescaled, labels) < 0.03
