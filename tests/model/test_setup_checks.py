"""Setup is all or nothing: each bad input is named, and the object is left as it was."""

from __future__ import annotations

import numpy as np
import pytest

import scvi_interpret as si
from scvi_interpret.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidDataError,
    ScviInterpretError,
)
from scvi_interpret.model import LinearVI, MultimodalClassifier, ProgramVI
from scvi_interpret.model.base import unchanged_on_failure

pytestmark = pytest.mark.filterwarnings("ignore")


def _state(data):
    holders = [data, *getattr(data, "mod", {}).values()]
    return [(list(h.obs.columns), sorted(h.obsm.keys()), sorted(h.uns.keys())) for h in holders]


def _nan_labels(adata):
    adata.obs["cell_type"] = adata.obs["cell_type"].astype(object)
    adata.obs.iloc[:5, adata.obs.columns.get_loc("cell_type")] = np.nan
    return {"labels_key": "cell_type"}


def _numeric(adata, value):
    adata.obs["score"] = 1.0
    adata.obs.iloc[0, adata.obs.columns.get_loc("score")] = value
    return {"continuous_covariate_keys": ["score"]}


def _text(adata):
    adata.obs["score"] = "high"
    return {"continuous_covariate_keys": ["score"]}


CASES = {
    "NaN labels": (_nan_labels, InvalidDataError, "5 missing values.*unlabelled category"),
    "a string for a list": (lambda a: {"categorical_covariate_keys": "batch"},
                            ArgumentTypeError, r"categorical_covariate_keys=\['batch'\]"),
    "zero cells": (lambda a: {"batch_key": "batch", "_subset": 0}, InvalidDataError,
                   "no cells"),
    "inf covariate": (lambda a: _numeric(a, np.inf), InvalidDataError,
                      r"obs\['score'\] has 1 NaN or infinite"),
    "text covariate": (_text, InvalidDataError, r"obs\['score'\] is not numeric"),
}  # fmt: skip


@pytest.mark.parametrize("model_cls", [LinearVI, ProgramVI])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_setup_is_named_and_leaves_the_anndata_unchanged(liu_rna, model_cls, case):
    make, error, message = CASES[case]
    adata = liu_rna[:200].copy()
    settings = make(adata)
    if "_subset" in settings:
        adata = adata[: settings.pop("_subset")].copy()
    before = _state(adata)
    with pytest.raises(error, match=message):
        model_cls.setup_anndata(adata, **settings)
    assert _state(adata) == before


def test_a_repeated_covariate_is_named(liu_rna):
    adata = liu_rna[:200].copy()
    before = _state(adata)
    with pytest.raises(InvalidArgumentError, match=r"names \['batch'\] more than once"):
        LinearVI.setup_anndata(adata, categorical_covariate_keys=["batch", "batch"])
    assert _state(adata) == before


def test_what_registration_wrote_is_undone_on_failure(data_dir):
    """The guard around scvi-tools' registration restores obs, obsm and uns of every part."""
    mdata = _mosaic(data_dir)
    mdata.obs["_scvi_batch"] = 7  # a column a previous setup left, with its values
    before, kept = _state(mdata), mdata.obs["_scvi_batch"].copy()
    with pytest.raises(RuntimeError, match="registration failed"), unchanged_on_failure(mdata):
        mdata.obs["_scvi_labels"] = 0
        mdata.obs["_scvi_batch"] = 3
        mdata.mod["rna"].obsm["_scvi_extra"] = np.zeros((mdata.n_obs, 2))
        mdata.mod["adt"].uns["_scvi_uuid"] = "x"
        mdata.uns["_scvi_manager_uuid"] = "y"
        raise RuntimeError("registration failed")
    assert _state(mdata) == before
    assert mdata.obs["_scvi_batch"].equals(kept)


def test_mudata_given_to_setup_anndata_names_a_modality(data_dir):
    mdata = si.datasets.pbmc_mosaic(data_dir)
    with pytest.raises(ArgumentTypeError, match=r"MuData.*setup_anndata\(mdata\['rna'\]"):
        LinearVI.setup_anndata(mdata)


def _mosaic(data_dir):
    return MultimodalClassifier.align_mudata(si.datasets.pbmc_mosaic(data_dir))


def test_classifier_setup_with_nan_labels_is_undone(data_dir):
    mdata = _mosaic(data_dir)
    mdata.obs["cell_type"] = mdata.obs["cell_type"].astype(object)
    mdata.obs.iloc[:3, mdata.obs.columns.get_loc("cell_type")] = np.nan
    before = _state(mdata)
    with pytest.raises(InvalidDataError, match="3 missing values"):
        MultimodalClassifier.setup_mudata(mdata, labels_key="cell_type", batch_key="batch",
                                          modalities={"rna": "rna", "protein": "adt"})  # fmt: skip
    assert _state(mdata) == before


def test_all_unlabelled_mudata_is_refused_at_setup(data_dir):
    mdata = _mosaic(data_dir)
    mdata.obs["cell_type"] = "Unknown"
    before = _state(mdata)
    with pytest.raises(InvalidDataError, match="needs at least two"):
        MultimodalClassifier.setup_mudata(mdata, labels_key="cell_type", batch_key="batch",
                                          modalities={"rna": "rna", "protein": "adt"})  # fmt: skip
    assert _state(mdata) == before


def test_every_error_is_a_package_error_and_a_builtin():
    errors = si.errors
    assert issubclass(errors.FeatureMismatchError, errors.InvalidDataError)
    for name in ("InvalidDataError", "InvalidArgumentError", "ModelFileError"):
        assert issubclass(getattr(errors, name), ValueError)
    assert issubclass(errors.UnknownNameError, KeyError)
    assert str(errors.UnknownNameError("no quotes")) == "no quotes"
    with pytest.raises(ScviInterpretError):
        si.tl.check_sample_size(0, 10)
    with pytest.raises(ValueError):  # code that catches the built-in keeps working
        si.tl.check_sample_size(0, 10)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m, a: m.get_feature_importance(target=0, n_cells=50), ArgumentTypeError,
         r"target=0 \(int\): give a target name.*'factor_0'"),
        (lambda m, a: m.get_feature_importance(target=[], n_cells=50), InvalidArgumentError,
         "target=\\[\\] names no target"),
        (lambda m, a: m.get_feature_importance(indices=list(a.obs_names[:5])),
         ArgumentTypeError, "indices holds names.*np.flatnonzero"),
        (lambda m, a: m.get_latent_representation(indices=list(a.obs_names[:5])),
         ArgumentTypeError, "indices holds names"),
        (lambda m, a: m.get_feature_importance(n_samples=0, n_cells=50), InvalidArgumentError,
         "n_samples must be at least 1"),
        (lambda m, a: m.get_archetypes(max_archetypes=1), InvalidArgumentError,
         "max_archetypes must be at least 2"),
        (lambda m, a: m.get_archetypes(n_archetypes=1), InvalidArgumentError,
         "n_archetypes must be at least 2"),
    ],
    ids=["target=0", "target=[]", "names as indices", "names as latent indices",
         "n_samples=0", "max_archetypes=1", "n_archetypes=1"],
)  # fmt: skip
def test_bad_call_arguments_are_named_before_any_work(small_linear_vi, call, error, message):
    model, adata = small_linear_vi
    before = (list(adata.obs.columns), sorted(adata.obsm.keys()), sorted(adata.uns.keys()))
    with pytest.raises(error, match=message):
        call(model, adata)
    assert (list(adata.obs.columns), sorted(adata.obsm.keys()),
            sorted(adata.uns.keys())) == before  # fmt: skip


def test_classifier_targets_get_the_same_checks(data_dir):
    mdata = _mosaic(data_dir)
    MultimodalClassifier.setup_mudata(mdata, labels_key="cell_type", batch_key="batch",
                                      modalities={"rna": "rna", "protein": "adt"})  # fmt: skip
    model = MultimodalClassifier(mdata, n_latent=4, n_hidden=16)
    model.train(max_epochs=1, enable_progress_bar=False)
    with pytest.raises(InvalidArgumentError, match="names no target"):
        model.get_feature_importance(target=[], n_cells=50)
    with pytest.raises(ArgumentTypeError, match="give a target name"):
        model.get_feature_importance(target=3, n_cells=50)
