"""Resolve user-given names (targets, dimensions) to positions, with a clear error."""

from __future__ import annotations

from collections.abc import Sequence


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
    KeyError
        A name is not in ``names``; the message lists some valid ones.
    """
    names = list(names)
    if wanted is None:
        return list(range(len(names)))
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise KeyError(
            f"Unknown {what}(s) {unknown}. This model's {what}s are, e.g., {names[:5]} "
            f"({len(names)} in all)."
        )
    return [names.index(name) for name in wanted]
