"""Checks before ``train()`` and a Ctrl+C that keeps what training reached."""

from __future__ import annotations

import difflib
import inspect
import math
import signal
import warnings
from collections.abc import Callable
from typing import Any

from lightning.pytorch.callbacks import Callback

from scvi_interpret.errors import InvalidArgumentError, InvalidDataError, ScviInterpretWarning

MIN_TRAINING_CELLS = 3  # scvi-tools drops a last minibatch of 1–2 cells (BatchNorm needs > 1)
_FILLED_BY_THE_PLAN = {"self", "module", "tensors", "inference_outputs", "generative_outputs",
                       "kl_weight"}  # fmt: skip


def _named_parameters(function: Callable) -> tuple[set[str], bool]:
    """Named parameters of ``function`` and whether it also takes ``**kwargs``."""
    parameters = inspect.signature(function).parameters.values()
    named = {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return named, any(p.kind is p.VAR_KEYWORD for p in parameters)


def check_plan_kwargs(plan_kwargs: dict | None, plan_cls: type, module) -> None:
    """Raise if ``plan_kwargs`` names an argument neither the training plan nor the loss takes.

    scvi-tools passes unknown plan arguments on to ``module.loss``, where a typo (``lrr``)
    fails in the first training step with a ``TypeError`` about the loss.

    Parameters
    ----------
    plan_kwargs
        The ``plan_kwargs`` given to ``train``.
    plan_cls
        The model's training-plan class.
    module
        The model's torch module (its ``loss`` takes the remaining arguments).
    """
    if not plan_kwargs:
        return
    accepted: set[str] = set()
    for klass in plan_cls.__mro__:
        if "__init__" in vars(klass):
            accepted |= _named_parameters(klass.__init__)[0]
    loss_names, loss_takes_any = _named_parameters(module.loss)
    if loss_takes_any:
        return
    accepted = (accepted | loss_names) - _FILLED_BY_THE_PLAN
    unknown = [name for name in plan_kwargs if name not in accepted]
    if unknown:
        hints = {n: difflib.get_close_matches(n, sorted(accepted), n=1) for n in unknown}
        said = ", ".join(
            f"{n!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for n, h in hints.items()
        )
        raise InvalidArgumentError(
            f"plan_kwargs has unknown argument(s) {said}. The training plan "
            f"{plan_cls.__name__} takes: {sorted(accepted)}."
        )


def check_enough_cells(n_cells: int, train_size: float | None) -> None:
    """Raise if fewer than :data:`MIN_TRAINING_CELLS` cells would be trained on."""
    n_train = math.ceil(n_cells * (1.0 if train_size is None else train_size))
    if n_train < MIN_TRAINING_CELLS:
        raise InvalidDataError(
            f"Training needs at least {MIN_TRAINING_CELLS} cells in the training split; this "
            f"data has {n_cells} cell(s) (train_size={train_size}). Train on more cells, or "
            "map these cells onto a trained model (load_query_data) instead."
        )


class _InterruptRecorder(Callback):
    """Remembers the epoch at which Lightning saw a KeyboardInterrupt."""

    def __init__(self):
        self.epoch: int | None = None
        self.trainer = None

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt):
            self.epoch, self.trainer = trainer.current_epoch, trainer


def train_keeping_interrupts(model, train: Callable[..., Any], **kwargs) -> Any:
    """Call scvi-tools' ``train``; on Ctrl+C keep the weights reached and re-raise.

    Lightning catches a KeyboardInterrupt, ignores further Ctrl+C for good and ends the
    process with ``SystemExit(1)``, leaving the model marked untrained. Here the model instead
    keeps the weights of the interrupted epoch, is marked trained (in eval mode, with the
    split it trained on), a warning says at which epoch training stopped, the Ctrl+C handler
    is restored, and ``KeyboardInterrupt`` is raised again so the caller's handler (or the
    notebook) sees it.

    Parameters
    ----------
    model
        The scvi-tools model being trained.
    train
        The bound ``train`` of the parent class (scvi-tools' training mixin).
    **kwargs
        Passed to ``train``; a callback that records the interrupt is added to ``callbacks``.
    """
    recorder = _InterruptRecorder()
    kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), recorder]
    handler = signal.getsignal(signal.SIGINT)
    try:
        return train(**kwargs)
    except SystemExit:
        if recorder.epoch is None:
            raise
        signal.signal(signal.SIGINT, handler)
        _keep_interrupted_training(model, recorder)
        raise KeyboardInterrupt(
            f"Training stopped by Ctrl+C during epoch {recorder.epoch + 1}; the model keeps "
            "the weights it reached."
        ) from None


def _keep_interrupted_training(model, recorder: _InterruptRecorder) -> None:
    """Mark an interrupted model trained, as scvi-tools' TrainRunner does after a full fit."""
    trainer = recorder.trainer
    splitter = getattr(trainer, "datamodule", None)
    for name, attribute in (("train_idx", "train_indices"), ("val_idx", "validation_indices"),
                            ("test_idx", "test_indices")):  # fmt: skip
        if getattr(splitter, name, None) is not None:
            setattr(model, attribute, getattr(splitter, name))
    history = getattr(getattr(trainer, "logger", None), "history", None)
    if isinstance(history, dict):
        model.history_ = history
    model.module.eval()
    model.is_trained_ = True
    model.trainer = trainer
    warnings.warn(
        f"Training was interrupted (Ctrl+C) during epoch {recorder.epoch + 1} of "
        f"{trainer.max_epochs}. The model keeps the weights it reached and is marked trained; "
        "call train() again to continue.",
        ScviInterpretWarning,
        stacklevel=3,
    )
