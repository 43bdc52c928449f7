"""The exceptions scvi-interpret raises, so that a workflow can catch them by kind.

Every error the package raises about its input is a :class:`ScviInterpretError`. Each class
also derives from the built-in exception that Python code would expect (``ValueError``,
``KeyError``, ``TypeError``, ``IndexError``), so ``except ValueError`` keeps working.

Hierarchy::

    ScviInterpretError
    ├── InvalidDataError (ValueError)       the data cannot be used as they are
    │   └── FeatureMismatchError            features differ from the model's
    ├── InvalidArgumentError (ValueError)   an argument's value is out of range or conflicts
    ├── ArgumentTypeError (TypeError)       an argument has the wrong kind
    ├── UnknownNameError (KeyError)         a name (target, column, modality, …) is unknown
    ├── CellIndexError (IndexError)         cell positions outside the data
    └── ModelFileError (ValueError)         a saved model cannot be trusted
"""

from __future__ import annotations


class ScviInterpretError(Exception):
    """Base class of every error scvi-interpret raises about its input.

    Examples
    --------
    >>> try:
    ...     si.tl.check_sample_size(0, n_available=10)
    ... except si.errors.ScviInterpretError as error:
    ...     print(type(error).__name__, "-", error)
    InvalidArgumentError - n_cells=0: at least one cell is needed.
    """


class InvalidDataError(ScviInterpretError, ValueError):
    """The data cannot be used as they are.

    Counts that are not whole, negative, NaN or infinite (e.g. log-normalised data); cells
    without counts; zero cells; missing values in a setup column; non-numeric continuous
    covariates; modalities whose cells are not aligned; unreadable gene-set files.

    Examples
    --------
    >>> try:
    ...     si.genesets.build_mask(["CD3E", "CD3E"], {"T": ["CD3E"]})
    ... except si.errors.InvalidDataError as error:
    ...     print(str(error)[:41])
    var_names hold duplicates (e.g. ['CD3E'])
    """


class FeatureMismatchError(InvalidDataError):
    """The data's features (names, or their order, per modality) are not the model's.

    Examples
    --------
    >>> issubclass(si.errors.FeatureMismatchError, si.errors.InvalidDataError)
    True
    """


class InvalidArgumentError(ScviInterpretError, ValueError):
    """An argument's value is out of range, empty, or conflicts with another argument.

    Examples
    --------
    >>> try:
    ...     si.tl.check_sample_size(50, n_available=10)
    ... except ValueError as error:  # the built-in still catches it
    ...     print(type(error).__name__)
    InvalidArgumentError
    """


class ArgumentTypeError(ScviInterpretError, TypeError):
    """An argument has the wrong kind (a string for a list, names for positions, …).

    Examples
    --------
    >>> try:
    ...     si.tl.check_sample_size(2.5, n_available=10)
    ... except si.errors.ArgumentTypeError as error:
    ...     print(error)
    n_cells must be "auto", "all" or a whole number, not 2.5.
    """


class UnknownNameError(ScviInterpretError, KeyError):
    """A name is unknown: a target, dimension, modality, layer or ``obs`` column.

    The message lists the names that exist.

    Examples
    --------
    >>> print(si.errors.UnknownNameError("Unknown target(s) ['x']."))
    Unknown target(s) ['x'].
    """

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class CellIndexError(ScviInterpretError, IndexError):
    """Cell positions (``indices=``) outside ``0 … n_cells − 1``.

    Examples
    --------
    >>> issubclass(si.errors.CellIndexError, IndexError)
    True
    """


class ModelFileError(ScviInterpretError, ValueError):
    """A saved model differs from what was saved (checksum) or holds NaN/infinite weights.

    Examples
    --------
    >>> issubclass(si.errors.ModelFileError, ValueError)
    True
    """


class ScviInterpretWarning(UserWarning):
    """A result is valid but may not be what was meant (the message gives the number).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", si.errors.ScviInterpretWarning)  # stop on them
    """


__all__ = [
    "ArgumentTypeError",
    "CellIndexError",
    "FeatureMismatchError",
    "InvalidArgumentError",
    "InvalidDataError",
    "ModelFileError",
    "ScviInterpretError",
    "ScviInterpretWarning",
    "UnknownNameError",
]
