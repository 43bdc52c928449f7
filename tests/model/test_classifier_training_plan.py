"""The classifier trains with scvi-tools' semi-supervised plan and logs SCANVI's metrics."""

from __future__ import annotations

import numpy as np
import pytest
import scvi
import torch
from scvi.train import SemiSupervisedTrainingPlan
from torchmetrics.functional.classification import multiclass_calibration_error

import scvi_interpret as si
from scvi_interpret.model import ClassifierTrainingPlan, MultimodalClassifier

METRICS = ("classification_loss", "accuracy", "f1_score", "calibration_error")


@pytest.fixture(scope="module")
def trained(data_dir):
    scvi.settings.seed = 0
    mdata = MultimodalClassifier.align_mudata(si.datasets.pbmc_mosaic(data_dir))
    MultimodalClassifier.setup_mudata(mdata, labels_key="cell_type", batch_key="batch",
                                      modalities={"rna": "rna", "protein": "adt"})  # fmt: skip
    model = MultimodalClassifier(mdata, n_latent=6, n_hidden=32)
    model.train(max_epochs=3, check_val_every_n_epoch=1, enable_progress_bar=False)
    return model, mdata


def test_plan_is_scvi_tools_semi_supervised_plan(trained):
    model, _ = trained
    assert issubclass(ClassifierTrainingPlan, SemiSupervisedTrainingPlan)
    assert model._training_plan_cls is ClassifierTrainingPlan
    for mode in ("train", "validation"):
        for metric in METRICS:
            values = model.history[f"{mode}_{metric}"].to_numpy(dtype=float).ravel()
            assert len(values) == 3 and np.isfinite(values).all(), (mode, metric)


def test_validation_metrics_are_exact_over_the_held_out_labelled_cells(trained):
    """The last epoch's validation metrics equal the final model's on those cells."""
    model, mdata = trained
    held_out = model.validation_indices
    labels = mdata.obs["cell_type"].cat.codes.to_numpy()[held_out]
    latent = model.get_latent_representation(indices=held_out)
    with torch.no_grad():
        logits = model.module.classify(torch.as_tensor(latent))  # uncalibrated, as in training
    truth = torch.as_tensor(labels, dtype=torch.long)
    accuracy = float((logits.argmax(-1) == truth).float().mean())
    error = float(multiclass_calibration_error(logits, truth, num_classes=logits.shape[1]))
    history = model.history
    assert history["validation_accuracy"].iloc[-1, 0] == pytest.approx(accuracy, abs=1e-6)
    assert history["validation_f1_score"].iloc[-1, 0] == pytest.approx(accuracy, abs=1e-6)
    assert history["validation_calibration_error"].iloc[-1, 0] == pytest.approx(error, abs=1e-5)
    loss = float(torch.nn.functional.cross_entropy(logits, truth))
    assert history["validation_classification_loss"].iloc[-1, 0] == pytest.approx(loss, rel=1e-4)


def test_classification_ratio_reaches_the_loss(trained):
    """The plan's ratio (scvi-tools' argument) weighs the loss; default: the model's."""
    model, mdata = trained
    tensors = next(iter(model._make_data_loader(mdata, batch_size=64)))
    module = model.module.eval()

    def loss_output(**loss_kwargs):
        torch.manual_seed(0)  # the same posterior sample each time
        with torch.no_grad():
            return module(tensors, loss_kwargs=loss_kwargs)[2]

    outputs = [loss_output(classification_ratio=ratio) for ratio in (0, 10)]
    default = loss_output()
    difference = outputs[1].loss - outputs[0].loss
    assert float(difference) == pytest.approx(10 * float(outputs[0].classification_loss), rel=1e-4)
    expected = outputs[0].loss + module.classification_ratio * outputs[0].classification_loss
    assert float(default.loss) == pytest.approx(float(expected), rel=1e-4)
