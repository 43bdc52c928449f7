"""train(): a real Ctrl+C keeps the weights reached; bad settings fail before training."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback

import scvi_interpret as si
from scvi_interpret.errors import InvalidArgumentError, InvalidDataError, ScviInterpretWarning
from scvi_interpret.model import LinearVI, MultimodalClassifier


class _CtrlC(Callback):
    """Sends SIGINT to this process at the end of epoch ``at`` (as a user's Ctrl+C does)."""

    def __init__(self, at: int):
        self.at = at

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.module.state_dict().items()}


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to oneself is POSIX")
def test_ctrl_c_keeps_the_weights_reached_and_reaches_the_caller(liu_rna):
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # e.g. `cmd &` in a script
        pytest.skip("this process ignores SIGINT (started in the background): no Ctrl+C")
    adata = liu_rna[:300].copy()
    LinearVI.setup_anndata(adata, batch_key="batch")
    model = LinearVI(adata, n_latent=3, n_hidden=16)
    start = _weights(model)
    own_handler = signal.getsignal(signal.SIGINT)
    caught = []
    with pytest.warns(ScviInterpretWarning, match="interrupted .* during epoch 2 of 50"):
        try:
            model.train(max_epochs=50, callbacks=[_CtrlC(at=1)], enable_progress_bar=False)
        except KeyboardInterrupt as interrupt:  # the user's own handler runs
            caught.append(str(interrupt))
    assert caught and "epoch 2" in caught[0]
    assert signal.getsignal(signal.SIGINT) is own_handler  # Ctrl+C works again afterwards
    assert model.is_trained_ and not model.module.training
    moved = [k for k, v in _weights(model).items() if v.is_floating_point()
             and not torch.equal(v, start[k])]  # fmt: skip
    assert moved  # the weights reached, not the initial ones
    assert len(model.train_indices) + len(model.validation_indices) == adata.n_obs
    assert np.isfinite(model.get_latent_representation()).all()
    model.train(max_epochs=1, enable_progress_bar=False)  # and training can go on


def test_plan_kwargs_typo_is_named_before_training(liu_rna):
    adata = liu_rna[:100].copy()
    LinearVI.setup_anndata(adata)
    model = LinearVI(adata, n_latent=2, n_hidden=8)
    with pytest.raises(InvalidArgumentError, match=r"'lrr' \(did you mean 'lr'\?\)"):
        model.train(max_epochs=1, plan_kwargs={"lrr": 1e-3})
    assert not model.is_trained_
    model.train(max_epochs=1, plan_kwargs={"lr": 1e-3, "n_epochs_kl_warmup": 5},
                enable_progress_bar=False)  # fmt: skip
    assert model.is_trained_


@pytest.mark.parametrize("n_cells", [1, 2])
def test_one_or_two_cells_are_refused_with_the_minimum(liu_rna, n_cells):
    adata = liu_rna[:n_cells].copy()
    LinearVI.setup_anndata(adata)
    model = LinearVI(adata, n_latent=2, n_hidden=8)
    with pytest.raises(InvalidDataError, match="at least 3 cells"):
        model.train(max_epochs=1)
    assert not model.is_trained_


def test_classifier_plan_kwargs_typo_is_named(data_dir):
    mdata = MultimodalClassifier.align_mudata(si.datasets.pbmc_mosaic(data_dir))
    MultimodalClassifier.setup_mudata(mdata, labels_key="cell_type", batch_key="batch",
                                      modalities={"rna": "rna", "protein": "adt"})  # fmt: skip
    model = MultimodalClassifier(mdata, n_latent=4, n_hidden=16)
    with pytest.raises(InvalidArgumentError, match="weight_decy"):
        model.train(max_epochs=1, plan_kwargs={"weight_decy": 0.0})
    assert not model.is_trained_
