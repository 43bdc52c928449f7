"""Range checks of a model's numeric hyperparameters, run at construction before any state."""

from __future__ import annotations

import math
from numbers import Integral, Real

# name -> (kind, lowest allowed, first value not allowed above); None: unbounded
RANGES: dict[str, tuple[type, float | None, float | None]] = {
    "n_latent": (Integral, 1, None),
    "n_hidden": (Integral, 1, None),
    "n_layers": (Integral, 1, None),
    "n_unconstrained": (Integral, 0, None),
    "min_genes": (Integral, 1, None),
    "dropout_rate": (Real, 0.0, 1.0),
    "modality_dropout": (Real, 0.0, 1.0),
    "soft_mask_l1": (Real, 0.0, None),
    "group_lasso": (Real, 0.0, None),
    "unconstrained_l1": (Real, 0.0, None),
    "classification_ratio": (Real, 0.0, None),
}


def check_hyperparameters(model_name: str, **values) -> None:
    """Raise a ``ValueError``/``TypeError`` naming the first hyperparameter out of its range.

    Examples
    --------
    >>> check_hyperparameters("ProgramVI", group_lasso=0.05, n_hidden=64)
    >>> check_hyperparameters("ProgramVI", group_lasso=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: ProgramVI: group_lasso must be at least 0.0, got -1.0.
    """
    for name, value in values.items():
        kind, low, high = RANGES[name]
        if isinstance(value, bool) or not isinstance(value, kind):
            noun = "a whole number" if kind is Integral else "a number"
            raise TypeError(f"{model_name}: {name} must be {noun}, not {value!r}.")
        if kind is Real and not math.isfinite(value):
            raise ValueError(f"{model_name}: {name} must be finite, got {value}.")
        if low is not None and value < low:
            raise ValueError(f"{model_name}: {name} must be at least {low}, got {value}.")
        if high is not None and value >= high:
            raise ValueError(f"{model_name}: {name} must be below {high}, got {value}.")
