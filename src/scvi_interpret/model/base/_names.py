"""Resolve user-given names (targets, dimensions) to positions, with a clear error."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scvi_interpret.errors import ArgumentTypeError, InvalidArgumentError, UnknownNameError


def resolve_names(
    wanted: str | Sequence[str] | None, names: Sequence[str], what: str
) -> list[int]:
    """Positions of ``wanted`` in ``names`` (all when ``None``).

    Parameters
    ----------
    wanted
        A name, several names, or ``None``.
    names
        The model's names (targets, latent dimensions…).
    what
        How to call them in the error, e.g. ``"target"``.

    Raises
    ------
    UnknownNameError
        A name is not in ``names``; the message lists some valid ones.
    ArgumentTypeError
        ``wanted`` is not a name or a list of names (e.g. a position, ``0``).
    InvalidArgumentError
        ``wanted`` is an empty list.
    """
    names = list(names)
    if wanted is None:
        return list(range(len(names)))
    wanted = as_name_list(wanted, names, what)
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise UnknownNameError(
            f"Unknown {what}(s) {unknown}. This model's {what}s are, e.g., {names[:5]} "
            f"({len(names)} in all)."
        )
    return [names.index(name) for name in wanted]


def as_name_list(wanted: str | Sequence[str], names: Sequence[str], what: str) -> list[str]:
    """``wanted`` as a non-empty list of names; raise for positions or an empty list.

    Parameters
    ----------
    wanted
        A name or several names, as given by the user.
    names
        Valid names, quoted in the error.
    what
        How to call them in the error, e.g. ``"target"``.
    """
    names = list(names)
    if not isinstance(wanted, str | Sequence | pd.Index | np.ndarray):
        raise ArgumentTypeError(
            f"{what}={wanted!r} ({type(wanted).__name__}): give a {what} name or a list of "
            f"names, e.g. {names[:2]}, or None for all."
        )
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    if not wanted:
        raise InvalidArgumentError(
            f"{what}=[] names no {what}: give names (e.g. {names[:2]}) or None for all."
        )
    return wanted
