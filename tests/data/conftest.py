"""Real Liu CITE-seq cells written to TileDB-SOMA stores and an on-disk h5ad, once a session."""

from __future__ import annotations

import mudata as md
import numpy as np
import pytest
from anndata import AnnData
from scipy import sparse

import scvi_interpret as si


@pytest.fixture(scope="session")
def liu_cells(data_dir) -> md.MuData:
    """1,500 Liu cells (500 per batch B1–B3): RNA (1,000 genes) + protein (192), raw counts."""
    mdata = si.datasets.pbmc_citeseq(data_dir)
    rng = np.random.default_rng(1)
    batch = mdata.obs["batch"].astype(str).to_numpy()
    picks = np.sort(np.concatenate([
        rng.choice(np.flatnonzero(batch == b), 500, replace=False) for b in ["B1", "B2", "B3"]
    ]))  # fmt: skip
    mdata = mdata[picks].copy()
    modalities = {
        key: AnnData(sparse.csr_matrix(mdata.mod[key].X, dtype=np.float32),
                     obs=mdata.obs[[]].copy(), var=mdata.mod[key].var[[]].copy())
        for key in ("rna", "prot")
    }  # fmt: skip
    cells = md.MuData(modalities)
    cells.obs = mdata.obs[["batch", "cell_type"]].copy()
    return cells


@pytest.fixture(scope="session")
def liu_rna_cells(liu_cells) -> AnnData:
    rna = liu_cells.mod["rna"].copy()
    rna.obs = liu_cells.obs.copy()
    return rna


@pytest.fixture(scope="session")
def soma_uri(liu_cells, tmp_path_factory) -> str:
    """A SOMA experiment with measurements 'rna' and 'prot' of the same cells."""
    return si.data.write_soma(liu_cells, tmp_path_factory.mktemp("soma") / "liu.soma")


@pytest.fixture(scope="session")
def h5ad_path(liu_rna_cells, tmp_path_factory):
    path = tmp_path_factory.mktemp("h5ad") / "liu_rna.h5ad"
    liu_rna_cells.write_h5ad(path)
    return path
