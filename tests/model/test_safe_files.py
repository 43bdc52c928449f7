"""Saved models load without running code from the file; pickled files need an opt-in."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

from scvi_interpret.errors import ModelFileError
from scvi_interpret.model import LinearVI, MultimodalClassifier
from scvi_interpret.model.base._persistence import CHECKSUM_SUFFIX, file_digest
from scvi_interpret.model.base._safe_files import from_plain, to_plain

pytestmark = pytest.mark.filterwarnings("ignore")


class _Touch:
    """Unpickling this creates a file: stands in for any code a shared file could run."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def _user_copy(adata):
    fresh = adata.copy()
    fresh.obs = fresh.obs[[c for c in fresh.obs if not c.startswith("_scvi")]]
    fresh.uns = {}
    return fresh


def _rewrite(folder, content) -> None:
    """Write ``content`` as the model file, with a matching checksum (as an attacker would)."""
    model_file = folder / "model.pt"
    torch.save(content, model_file)
    (folder / f"model.pt{CHECKSUM_SUFFIX}").write_text(file_digest(model_file) + "\n")


def test_saved_models_hold_only_tensors_and_plain_containers(
    small_linear_vi, small_classifier, tmp_path
):
    model, adata = small_linear_vi
    model.save(tmp_path / "linear")
    torch.load(tmp_path / "linear" / "model.pt", weights_only=True)  # no unpickling needed
    loaded = LinearVI.load(tmp_path / "linear", adata=_user_copy(adata))
    np.testing.assert_array_equal(loaded.get_latent_representation(),
                                  model.get_latent_representation())  # fmt: skip
    pd.testing.assert_frame_equal(loaded.history["elbo_train"], model.history["elbo_train"])
    np.testing.assert_array_equal(loaded.train_indices, model.train_indices)

    classifier, _ = small_classifier
    classifier.save(tmp_path / "classifier", save_anndata=True)
    torch.load(tmp_path / "classifier" / "model.pt", weights_only=True)
    reloaded = MultimodalClassifier.load(tmp_path / "classifier")
    np.testing.assert_allclose(reloaded.predict(soft=True).to_numpy(),
                               classifier.predict(soft=True).to_numpy(), atol=1e-6)  # fmt: skip


def test_a_file_carrying_code_is_refused_before_the_code_runs(small_linear_vi, tmp_path):
    model, adata = small_linear_vi
    folder = tmp_path / "shared"
    model.save(folder)
    saved = from_plain(torch.load(folder / "model.pt", weights_only=True))
    marker = tmp_path / "code_ran"
    saved["attr_dict"]["notes_"] = _Touch(marker)
    _rewrite(folder, saved)
    with pytest.raises(ModelFileError, match=r"pickled Python objects.*trust_pickle=True"):
        LinearVI.load(folder, adata=_user_copy(adata))
    with pytest.raises(ModelFileError, match="pickled Python objects"):
        LinearVI.load_query_data(_user_copy(adata), folder)
    assert not marker.exists()  # nothing from the file ran
    LinearVI.load(folder, adata=_user_copy(adata), trust_pickle=True)  # the explicit opt-in
    assert marker.exists()  # which is why it is an opt-in


def test_an_older_pickled_file_loads_with_the_opt_in(small_linear_vi, tmp_path):
    model, adata = small_linear_vi
    folder = tmp_path / "old"
    model.save(folder)
    # as scvi-tools (and scvi-interpret < 0.2) write it: numpy arrays and DataFrames pickled
    _rewrite(folder, from_plain(torch.load(folder / "model.pt", weights_only=True)))
    with pytest.raises(ModelFileError, match="trust_pickle"):
        LinearVI.load(folder, adata=_user_copy(adata))
    loaded = LinearVI.load(folder, adata=_user_copy(adata), trust_pickle=True)
    np.testing.assert_array_equal(loaded.get_latent_representation(),
                                  model.get_latent_representation())  # fmt: skip


def test_query_mapping_reads_a_saved_reference_safely(small_linear_vi, tmp_path):
    model, adata = small_linear_vi
    model.save(tmp_path / "reference")
    query = _user_copy(adata)
    assert list(LinearVI.prepare_query_anndata(query, tmp_path / "reference",
                                               return_reference_var_names=True)) == list(
        adata.var_names
    )  # fmt: skip
    query_model = LinearVI.load_query_data(query, tmp_path / "reference")
    assert query_model.module.n_latent == model.module.n_latent


def test_plain_encoding_round_trips_what_models_save():
    frame = pd.DataFrame({"a": [1.5, 2.0], "b": [True, False]}, index=pd.Index(["x", "y"]))
    content = {
        "ints": np.arange(4), "names": np.array(["CD4", "CD8A"], dtype=object),
        "strings": np.array(["B", "T"]), "frame": frame, "scalar": np.float32(0.5),
        "nested": [{"t": torch.ones(2)}, (1, "two")], "none": None,
        "numpy_strings": np.array([np.str_("CD4"), np.float64(0.5)], dtype=object),
    }  # fmt: skip
    torch.save(to_plain(content), buffer := io.BytesIO())
    torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)  # nothing left to unpickle
    back = from_plain(to_plain(content))
    np.testing.assert_array_equal(back["ints"], content["ints"])
    assert back["names"].dtype == object and list(back["names"]) == ["CD4", "CD8A"]
    assert back["strings"].dtype.kind == "U" and list(back["strings"]) == ["B", "T"]
    pd.testing.assert_frame_equal(back["frame"], frame)
    assert back["scalar"] == 0.5 and back["nested"][1] == (1, "two") and back["none"] is None
    with pytest.raises(TypeError, match="no plain encoding"):
        to_plain({"f": _Touch("x")})


def test_program_vi_built_from_a_gmt_path_saves_and_loads(pancreas_small, gmt_dir, tmp_path):
    from scvi_interpret.model import ProgramVI

    ProgramVI.setup_anndata(pancreas_small, layer="counts")
    model = ProgramVI(pancreas_small, gene_programs=gmt_dir / "h.all.v7.5.1.symbols.gmt",
                      n_hidden=16)  # fmt: skip
    model.train(max_epochs=1, enable_progress_bar=False)
    model.save(tmp_path / "programs")
    torch.load(tmp_path / "programs" / "model.pt", weights_only=True)
    loaded = ProgramVI.load(tmp_path / "programs", adata=_user_copy(pancreas_small))
    assert loaded.program_names == model.program_names
    np.testing.assert_allclose(loaded.get_program_activity().to_numpy(),
                               model.get_program_activity().to_numpy(), atol=1e-6)  # fmt: skip
