"""scvi-tools training plan plus the proximal sparsity step after each optimiser step."""

from __future__ import annotations

from scvi_interpret.errors import InvalidArgumentError
from scvi_interpret.model.base import TrainingPlan
from scvi_interpret.nn import StepSizes


class ProgramTrainingPlan(TrainingPlan):
    """Training plan that applies ProgramVAE's proximal step after each optimiser step.

    Parameters
    ----------
    module
        A :class:`~scvi_interpret.model.ProgramVAE`.
    soft_mask_l1
        L1 strength on out-of-program weights (soft mask only).
    group_lasso
        Group-lasso strength per latent node.
    unconstrained_l1
        L1 strength on the unconstrained nodes.
    penalty_warmup
        Share of the training epochs over which the group lasso grows linearly from 0 to its
        strength, so that programs learn their signal before it can switch them off (at full
        strength from the first step, a program whose weights start small can be zeroed before
        the data reach it: seen for 3 of 6 seeds on planted data).
    **kwargs
        Passed to :class:`scvi.train.TrainingPlan` (``lr``, ``weight_decay``,
        ``n_epochs_kl_warmup``, …).

    Examples
    --------
    Used by ``ProgramVI.train``; its penalties are set through ``plan_kwargs``:

    >>> model.train(max_epochs=400, plan_kwargs={"group_lasso": 0.1, "soft_mask_l1": 0.1})
    """

    def __init__(
        self,
        module,
        *,
        soft_mask_l1: float = 0.0,
        group_lasso: float = 0.0,
        unconstrained_l1: float = 0.0,
        penalty_warmup: float = 0.5,
        **kwargs,
    ):
        super().__init__(module, **kwargs)
        if not 0 <= penalty_warmup <= 1:
            raise InvalidArgumentError(f"penalty_warmup must be in [0, 1], got {penalty_warmup}.")
        self.penalty_warmup = penalty_warmup
        self.soft_mask_l1 = soft_mask_l1
        self.group_lasso = group_lasso
        self.unconstrained_l1 = unconstrained_l1

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        """After the optimiser step: shrink the decoder weights (exact zeros).

        The shrinkage of each weight uses Adam's own step size for it,
        ``lr / (sqrt(v_hat) + eps)`` (proximal Adam), so that a penalty of strength ``alpha``
        keeps a weight only where the loss gradient on it is consistently larger than
        ``alpha``; with another optimiser the plain learning rate is used.
        """
        optimizer = self.optimizers().optimizer
        weight = self.module.decoder.factor_loadings.weight
        group = optimizer.param_groups[0]
        state = optimizer.state.get(weight, {})
        if "exp_avg_sq" in state and "betas" in group:
            step_sizes = StepSizes(
                lr=float(group["lr"]),
                exp_avg_sq=state["exp_avg_sq"],
                bias_correction=1.0 - group["betas"][1] ** float(state["step"]),
                eps=float(group["eps"]),
            )
        else:
            step_sizes = StepSizes(lr=float(group["lr"]))
        self.module.proximal_step(
            step_sizes,
            self.soft_mask_l1,
            self.group_lasso * self.group_lasso_weight,
            self.unconstrained_l1,
        )

    @property
    def group_lasso_weight(self) -> float:
        """Factor in [0, 1] on the group lasso: grows linearly over the warm-up epochs."""
        max_epochs = getattr(self.trainer, "max_epochs", None) if self._trainer else None
        if not self.penalty_warmup or not max_epochs:
            return 1.0
        progress = (self.current_epoch + 1) / (self.penalty_warmup * max_epochs)
        return float(min(1.0, progress))
