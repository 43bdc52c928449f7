"""The classifier's training plan: scvi-tools' semi-supervised plan, logged once per epoch."""

from __future__ import annotations

import torch
from scvi.module.base import LossOutput
from scvi.train import SemiSupervisedTrainingPlan
from scvi.train._constants import METRIC_KEYS

from scvi_interpret.model.base import TrainingPlan

N_CALIBRATION_BINS = 15  # torchmetrics' default for multiclass_calibration_error


class ClassifierTrainingPlan(TrainingPlan, SemiSupervisedTrainingPlan):
    """:class:`scvi.train.SemiSupervisedTrainingPlan` (as SCANVI trains) with epoch-end logging.

    Takes scvi-tools' semi-supervised arguments (``n_classes``, ``classification_ratio``,
    ``lr``, ``n_epochs_kl_warmup``…) and logs what scvi-tools logs for SCANVI:
    ``{mode}_classification_loss``, ``{mode}_accuracy``, ``{mode}_f1_score`` (micro, equal to
    the accuracy) and ``{mode}_calibration_error`` (expected calibration error, 15 bins), with
    ``mode`` ``train`` or ``validation``, next to the ELBO terms of
    :class:`scvi_interpret.model.base.TrainingPlan`. As there, each step only adds to running
    sums and the epoch end logs them: the metrics are exact over the epoch's labelled cells
    (scvi-tools averages per-minibatch values). Under a distributed strategy, or with
    step-wise logging, scvi-tools' own logging is used.

    Examples
    --------
    >>> model.train(max_epochs=50, plan_kwargs={"classification_ratio": 100})
    >>> model.history["validation_accuracy"].tail(1)
    """

    def compute_and_log_metrics(self, loss_output: LossOutput, metrics: dict, mode: str) -> None:
        """Add this minibatch's classification counts to the epoch sums of ``mode``."""
        super().compute_and_log_metrics(loss_output, metrics, mode)
        if not self._per_epoch_logging or loss_output.classification_loss is None:
            return
        logits = loss_output.logits.detach()
        sums = self._sums(mode)
        labelled = len(logits)
        if labelled == 0:
            return
        confidence, predicted = torch.softmax(logits.float(), -1).max(-1)
        correct = (predicted == loss_output.true_labels.reshape(-1)).float()
        bins = (confidence * N_CALIBRATION_BINS).long().clamp(max=N_CALIBRATION_BINS - 1)
        per_bin = torch.zeros(3, N_CALIBRATION_BINS, device=logits.device)
        per_bin[0].index_add_(0, bins, torch.ones_like(confidence))
        per_bin[1].index_add_(0, bins, confidence)
        per_bin[2].index_add_(0, bins, correct)
        sums["classification_weighted"] = (
            sums.get("classification_weighted", 0.0)
            + loss_output.classification_loss.detach() * labelled
        )
        sums["labelled"] = sums.get("labelled", 0) + labelled
        sums["bins"] = sums.get("bins", 0.0) + per_bin

    def _log_epoch(self, mode: str) -> None:
        sums = self._sums(mode)
        labelled = sums.get("labelled", 0)
        if labelled:
            _, confidence, correct = sums["bins"]
            accuracy = correct.sum() / labelled
            calibration_error = (confidence - correct).abs().sum() / labelled
            self.log_dict(
                {
                    f"{mode}_{METRIC_KEYS.CLASSIFICATION_LOSS_KEY}": torch.as_tensor(
                        sums["classification_weighted"] / labelled
                    ),
                    f"{mode}_{METRIC_KEYS.ACCURACY_KEY}": accuracy,
                    f"{mode}_{METRIC_KEYS.F1_SCORE_KEY}": accuracy,
                    f"{mode}_{METRIC_KEYS.CALIBRATION_ERROR_KEY}": calibration_error,
                },
                on_step=False,
                on_epoch=True,
            )
        super()._log_epoch(mode)
