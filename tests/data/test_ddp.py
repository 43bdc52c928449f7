"""Training under Lightning DDP (2 CPU processes, gloo) from a SOMA store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import scvi_interpret as si

pytestmark = pytest.mark.filterwarnings("ignore")

SCRIPT = textwrap.dedent(
    """
    import os, sys
    import numpy as np, scvi, torch
    import scvi_interpret as si

    torch.set_num_threads(1)
    uri, out = sys.argv[1], sys.argv[2]
    dm = si.data.SomaDataModule(uri, si.model.MultimodalClassifier, labels_key="cell_type",
                                batch_key="batch", modalities={"rna": "rna", "protein": "prot"},
                                batch_size=64, seed=0)
    scvi.settings.seed = 0
    model = si.model.MultimodalClassifier(None, registry=dm.registry, n_latent=8, n_hidden=32)
    model.train(max_epochs=2, datamodule=dm, accelerator="cpu", devices=2, strategy="ddp",
                enable_progress_bar=False)
    import torch.distributed as dist
    rank, world = dist.get_rank(), dist.get_world_size()
    print(f"RANK {rank} WORLD {world} TRAINED {model.is_trained_}", flush=True)
    if rank == 0:
        model.save(out, overwrite=True)
        probabilities = model.predict(datamodule=dm, soft=True)
        np.save(os.path.join(out, "probabilities.npy"), probabilities.to_numpy())
    """
)


def test_ddp_training_saves_a_model_that_loads_in_one_process(soma_uri, tmp_path):
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    out = tmp_path / "model"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, str(script), soma_uri, str(out)], capture_output=True,
                          text=True, timeout=600, env=env, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RANK 0 WORLD 2 TRAINED True" in done.stdout
    assert "RANK 1 WORLD 2 TRAINED True" in done.stdout
    model = si.model.MultimodalClassifier.load(str(out), adata=False)
    assert model.is_trained_ and model.calibration_ is not None
    dm = si.data.SomaDataModule(soma_uri, reference=model)
    single_process = model.predict(datamodule=dm, soft=True)
    np.testing.assert_allclose(single_process.to_numpy(), np.load(out / "probabilities.npy"),
                               atol=1e-6)  # fmt: skip
    assert single_process.shape == (dm.n_obs, len(model.class_names))
