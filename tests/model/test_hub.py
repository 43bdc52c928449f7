"""A trained reference packaged for scvi-hub loads back identically, from a local folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("huggingface_hub")  # the `hub` extra (in `test`)


def test_hub_model_local_round_trip_gives_identical_latents(small_linear_vi, tmp_path):
    from scvi.hub import HubModel

    model, adata = small_linear_vi
    folder = tmp_path / "reference"
    hub_model = model.to_hub_model(folder, description="300 Liu CITE-seq cells, B1–B3",
                                   metrics={"elbo_validation": 1.0})  # fmt: skip
    assert isinstance(hub_model, HubModel)
    metadata = json.loads((folder / "_scvi_required_metadata.json").read_text())
    assert metadata["model_cls_name"] == "LinearVI"
    assert metadata["model_parent_module"] == "scvi_interpret.model"
    card = (folder / "README.md").read_text()
    assert "300 Liu CITE-seq cells" in card and "elbo_validation: 1.0" in card
    assert "features per input: {'X': 1000}" in card
    torch.load(folder / "model.pt", weights_only=True)  # what the hub serves runs no code

    query = adata.copy()
    query.obs = query.obs[[c for c in query.obs if not c.startswith("_scvi")]]
    query.uns = {}
    shared = HubModel(str(folder))  # as after pull_from_huggingface_hub
    shared.load_model(adata=query)
    np.testing.assert_array_equal(shared.model.get_latent_representation(),
                                  model.get_latent_representation())  # fmt: skip
