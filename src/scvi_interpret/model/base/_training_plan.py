"""scvi-tools' training plan, with the ELBO terms summed in the step and logged per epoch."""

from __future__ import annotations

import torch
from scvi.module.base import LossOutput
from scvi.train import TrainingPlan as ScviTrainingPlan

from scvi_interpret.errors import InvalidArgumentError


def query_plan_kwargs(module, plan_kwargs: dict | None) -> dict:
    """Training-plan arguments, with weight decay 0 by default after query surgery.

    Weight decay would shrink the frozen reference weights (their gradients are zeroed, the
    decay is not), so a module with ``is_query`` set trains without it unless asked.
    """
    plan_kwargs = dict(plan_kwargs or {})
    if module.is_query:
        plan_kwargs.setdefault("weight_decay", 0.0)
    return plan_kwargs


def check_max_epochs(max_epochs) -> None:
    """Raise unless ``max_epochs`` is ``None`` or a positive whole number.

    Lightning treats 0 as "no training" and -1 as "forever"; neither should mark a model
    trained.
    """
    if max_epochs is None:
        return
    if isinstance(max_epochs, bool) or not float(max_epochs).is_integer() or max_epochs < 1:
        raise InvalidArgumentError(
            f"max_epochs must be a positive whole number (or None for the default), got "
            f"{max_epochs!r}."
        )


def keep_query_registry(model, registry: dict | None) -> None:
    """After ``ArchesMixin.load_query_data(registry=…)``: the model keeps the query's registry.

    scvi-tools builds the query model from the query's registry, then copies the reference's
    saved attributes onto it, the reference's registry among them; the query's categories
    (its new batches) would then be lost at the next save or inference.
    """
    if registry is None or model.adata is not None:
        return
    from scvi.data import AnnDataManager

    model.registry_ = registry
    model.summary_stats = AnnDataManager._get_summary_stats_from_registry(registry)


class TrainingPlan(ScviTrainingPlan):
    """:class:`scvi.train.TrainingPlan` with a fused Adam and the ELBO logged once per epoch.

    Adam and AdamW use PyTorch's fused implementation where the parameters allow it (CPU or
    CUDA, floating point): the same update in one kernel, several times faster on a CPU.
    During training, denormal floats are flushed to zero on the CPU: Adam's moments of weights
    that get no gradient (outside a program mask) decay into the denormal range, where x86
    arithmetic is many times slower; the setting is restored afterwards.

    scvi-tools logs its torchmetrics objects at every step, and Lightning walks each logged
    object's attributes on every call: on a CPU that is about a fifth of a small model's step.
    Here each step only adds the terms (and the loss) to running sums, and the epoch end logs
    ``train_loss``, ``kl_weight``,
    ``elbo_{mode}``, ``reconstruction_loss_{mode}``, ``kl_local_{mode}`` and
    ``kl_global_{mode}`` (``mode``: ``train`` or ``validation``) with the same values as
    scvi-tools (per-observation means; the global KL averaged over minibatches), and
    each scalar of the loss's ``extra_metrics`` as ``{key}_{mode}`` (mean over cells), so
    ``model.history`` and early stopping read as usual. Under a distributed strategy, or when
    step-wise logging is asked for, scvi-tools' own logging is used.
    """

    def __init__(self, module, **kwargs):
        super().__init__(module, **kwargs)
        self._elbo_sums: dict[str, dict] = {}

    def on_train_start(self) -> None:
        """Flush denormal floats to zero while training (restored in :meth:`on_train_end`)."""
        self._flushed_denormals = torch.set_flush_denormal(True)
        super().on_train_start()

    def on_train_end(self) -> None:
        """Restore the default handling of denormal floats."""
        if getattr(self, "_flushed_denormals", False):
            torch.set_flush_denormal(False)
        super().on_train_end()

    def _optimizer_creator_fn(self, optimizer_cls: type[torch.optim.Optimizer]):
        def create(params):
            params = list(params)
            fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
            return optimizer_cls(
                params, lr=self.lr, eps=self.eps, weight_decay=self.weight_decay, fused=fused
            )

        return create

    @property
    def _per_epoch_logging(self) -> bool:
        return not (self.use_sync_dist or self.on_step)

    def _sums(self, mode: str) -> dict[str, torch.Tensor | float]:
        return self._elbo_sums.setdefault(
            mode,
            {"loss": 0.0, "reconstruction": 0.0, "kl_local": 0.0, "kl_global": 0.0, "n_obs": 0,
             "n": 0, "extra": {}},
        )  # fmt: skip

    def training_step(self, batch, batch_idx):
        """One optimisation step; the loss is logged at the epoch's end (mean over batches)."""
        if not self._per_epoch_logging:
            return super().training_step(batch, batch_idx)
        if "kl_weight" in self.loss_kwargs:
            self.loss_kwargs.update({"kl_weight": self.kl_weight})
        _, _, loss_output = self.forward(batch, loss_kwargs=self.loss_kwargs)
        self._sums("train")["loss"] += loss_output.loss.detach()
        self.compute_and_log_metrics(loss_output, self.train_metrics, "train")
        if loss_output.extra_metrics:  # as scvi-tools: scib-metrics autotune reads these
            self.prepare_scib_autotune(loss_output.extra_metrics, "training")
        return loss_output.loss

    def compute_and_log_metrics(self, loss_output: LossOutput, metrics: dict, mode: str) -> None:
        """Add this minibatch's ELBO terms to the epoch sums of ``mode``."""
        if not self._per_epoch_logging:
            super().compute_and_log_metrics(loss_output, metrics, mode)
            return
        sums = self._sums(mode)
        sums["reconstruction"] += loss_output.reconstruction_loss_sum.detach()
        sums["kl_local"] += loss_output.kl_local_sum.detach()
        sums["kl_global"] += torch.as_tensor(loss_output.kl_global_sum).detach()
        sums["n_obs"] += loss_output.n_obs_minibatch
        sums["n"] += 1
        extra = sums["extra"]
        for key in loss_output.extra_metrics_keys:  # scalar extra metrics, as scvi-tools logs
            value = loss_output.extra_metrics[key]
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                continue  # scvi-tools logs only 0-d tensors (others feed autotune)
            value = value.detach() if isinstance(value, torch.Tensor) else value
            total, count = extra.get(key, (0.0, 0))
            extra[key] = (total + value * loss_output.n_obs_minibatch,
                          count + loss_output.n_obs_minibatch)  # fmt: skip

    def _log_epoch(self, mode: str) -> None:
        sums = self._sums(mode)
        if sums["n"] == 0:
            return
        n_total = self.n_obs_training if mode == "train" else self.n_obs_validation
        n_total = n_total if n_total and n_total > 0 else 1
        reconstruction = torch.as_tensor(sums["reconstruction"] / sums["n_obs"])
        kl_local = torch.as_tensor(sums["kl_local"] / sums["n_obs"])
        kl_global = torch.as_tensor(sums["kl_global"] / sums["n"])
        if mode == "train":
            self.log("train_loss", sums["loss"] / sums["n"], on_epoch=True, prog_bar=True)
            if "kl_weight" in self.loss_kwargs:
                self.log("kl_weight", float(self.kl_weight), on_epoch=True)
        metrics = {
            f"elbo_{mode}": reconstruction + kl_local + kl_global / n_total,
            f"reconstruction_loss_{mode}": reconstruction,
            f"kl_local_{mode}": kl_local,
            f"kl_global_{mode}": kl_global,
        }
        for key, (total, count) in sums.get("extra", {}).items():
            metrics[f"{key}_{mode}"] = torch.as_tensor(total / max(count, 1))
        self.log_dict(metrics, on_step=False, on_epoch=True)
        self._elbo_sums.pop(mode)

    def on_train_epoch_end(self) -> None:
        """Log the training ELBO of the epoch."""
        self._log_epoch("train")
        super().on_train_epoch_end()

    def on_validation_epoch_end(self) -> None:
        """Log the validation ELBO of the epoch."""
        self._log_epoch("validation")
        super().on_validation_epoch_end()
