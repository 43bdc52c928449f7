"""Range checks of a model's numeric hyperparameters, run at construction before any state."""

from __future__ import annotations

import math
from numbers import Integral, Real

from scvi_interpret.errors import ArgumentTypeError, InvalidArgumentError

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
    # arguments of the interpretation calls
    "n_background": (Integral, 1, None),
    "n_samples": (Integral, 1, None),
    "batch_size": (Integral, 1, None),
    "max_archetypes": (Integral, 2, None),
    "n_archetypes": (Integral, 2, None),
}


def check_hyperparameters(model_name: str, **values) -> None:
    """Raise an error naming the first hyperparameter (or call argument) out of its range.

    ``model_name`` prefixes the message (a class, or a call such as
    ``"get_feature_importance"``).

    Examples
    --------
    >>> check_hyperparameters("ProgramVI", group_lasso=0.05, n_hidden=64)
    >>> check_hyperparameters("ProgramVI", n_hidden=0)
    Traceback (most recent call last):
    ...
    scvi_interpret.errors.InvalidArgumentError: ProgramVI: n_hidden must be at least 1, got 0.
    """
    for name, value in values.items():
        kind, low, high = RANGES[name]
        if isinstance(value, bool) or not isinstance(value, kind):
            noun = "a whole number" if kind is Integral else "a number"
            raise ArgumentTypeError(f"{model_name}: {name} must be {noun}, not {value!r}.")
        if kind is Real and not math.isfinite(value):
            raise InvalidArgumentError(f"{model_name}: {name} must be finite, got {value}.")
        if low is not None and value < low:
            raise InvalidArgumentError(
                f"{model_name}: {name} must be at least {low}, got {value}."
            )
        if high is not None and value >= high:
            raise InvalidArgumentError(f"{model_name}: {name} must be below {high}, got {value}.")
