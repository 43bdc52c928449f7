"""Results go where scanpy reads them: numpy arrays under key_added, names in .uns."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import scanpy as sc

from scvi_interpret.errors import ScviInterpretWarning

matplotlib.use("Agg")


def _user_copy(adata):
    fresh = adata.copy()
    fresh.obs = fresh.obs[[c for c in fresh.obs if not c.startswith("_scvi")]]
    fresh.uns = {}
    return fresh


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_scanpy_reads_every_stored_basis(small_linear_vi):
    model, adata = small_linear_vi
    data = _user_copy(adata)

    def results():  # scvi-tools' own registration keys (_scvi_*) aside
        return [sorted(k for k in slot if not k.startswith("_scvi"))
                for slot in (data.obsm, data.varm, data.uns)]  # fmt: skip

    before = results()
    model.get_latent_representation(data)
    model.get_archetypes(adata=data, n_archetypes=3)
    model.get_feature_importance(adata=data, n_cells=100)
    assert results() == before  # nothing without key_added
    model.get_latent_representation(data, key_added="X_linearvi")
    model.get_archetypes(adata=data, n_archetypes=3, key_added="archetypes")
    model.get_feature_importance(adata=data, n_cells=100, key_added="shap")
    for basis, width in (("X_linearvi", 4), ("archetypes", 3)):
        assert isinstance(data.obsm[basis], np.ndarray) and data.obsm[basis].shape[1] == width
    assert data.uns["archetypes"]["columns"] == [f"archetype_{i}" for i in range(3)]
    assert isinstance(data.varm["shap"], np.ndarray)
    assert data.uns["shap"]["columns"] == model.factor_names
    sc.pp.neighbors(data, use_rep="X_linearvi", n_neighbors=10)
    sc.pl.embedding(data, basis="archetypes", color="batch", show=False)
    with pytest.warns(ScviInterpretWarning, match=r"obsm\['archetypes'\] already existed"):
        model.get_archetypes(adata=data, n_archetypes=3, key_added="archetypes")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_classifier_latent_and_predictions_are_stored_as_arrays(small_classifier):
    model, mdata = small_classifier
    model.get_latent_representation(key_added="X_classifier")
    model.predict(key_added="predicted")
    assert mdata.obsm["X_classifier"].shape == (mdata.n_obs, 4)
    probabilities = mdata.obsm["predicted_probabilities"]
    assert isinstance(probabilities, np.ndarray)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert mdata.uns["predicted_probabilities"]["columns"] == model.class_names
    assert set(mdata.obs["predicted"]) <= set(model.class_names)


def test_modality_names_and_mudata_keys_are_stated_together(small_classifier):
    """Tables say "protein"; the MuData calls it "adt": both names work and both are stated."""
    model, mdata = small_classifier
    table = model.get_feature_importance(n_cells=100, modalities=["adt"], key_added="shap")
    assert set(table["modality"]) == {"protein"}
    assert table.attrs["modality_keys"] == {"protein": "adt"}
    assert mdata.uns["shap"]["modality_keys"] == {"protein": "adt"}
    assert mdata.mod["adt"].varm["shap"].shape[0] == mdata.mod["adt"].n_vars
    feature = model._features("protein")[0]
    by_key = model.get_feature_importance(target=f"adt:{feature}", n_cells=50)
    assert set(by_key["target"]) == {f"protein:{feature}"}
