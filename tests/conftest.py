"""Shared fixtures: the real-data folder and small real subsets of it."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import scanpy as sc
import scvi

from synthetic_programs import prior_mask, simulate

DATA_ENV_VAR = "SCVI_INTERPRET_DATA"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``$SCVI_INTERPRET_DATA``, else ``../shared/data`` beside the repository (absolute)."""
    folder = Path(
        os.environ.get(DATA_ENV_VAR, Path(__file__).resolve().parents[2] / "shared/data")
    ).resolve()  # absolute: notebooks run by the tests start in another folder
    if not (folder / "pancreas_baron_human1.h5ad").is_file():
        pytest.fail(
            f"Real data not found in {folder}. Set {DATA_ENV_VAR} to the folder that holds "
            "pancreas_baron_human1.h5ad and the other files (see README, 'Data')."
        )
    return folder


@pytest.fixture(scope="session")
def gmt_dir(data_dir) -> Path:
    return data_dir / "genesets"


@pytest.fixture(scope="session")
def pancreas_full(data_dir):
    import scvi_interpret as si

    return si.datasets.pancreas(data_dir)


@pytest.fixture
def pancreas_small(pancreas_full):
    """600 pancreas cells (stratified by cell type) × 400 highly variable genes, raw counts."""
    rng = np.random.default_rng(0)
    obs = pancreas_full.obs
    picks = [
        rng.choice(
            np.flatnonzero(obs["cell_type"] == t),
            size=min(80, (obs["cell_type"] == t).sum()),
            replace=False,
        )
        for t in obs["cell_type"].cat.categories
    ]
    adata = pancreas_full[np.sort(np.concatenate(picks))].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.pp.highly_variable_genes(
            adata, n_top_genes=400, flavor="seurat_v3", layer="counts", subset=True
        )
    return adata


@pytest.fixture(scope="session")
def liu_rna(data_dir):
    """RNA of 1,800 Liu CITE-seq cells, 600 from each batch B1–B3, raw counts."""
    import scvi_interpret as si

    mdata = si.datasets.pbmc_citeseq(data_dir)
    rna = mdata["rna"]
    rna.obs = mdata.obs.loc[rna.obs_names, ["cell_type", "batch"]].copy()
    rng = np.random.default_rng(0)
    picks = [
        rng.choice(np.flatnonzero(rna.obs["batch"] == b), size=600, replace=False)
        for b in ["B1", "B2", "B3"]
    ]
    return rna[np.sort(np.concatenate(picks))].copy()


@pytest.fixture
def planted():
    """Synthetic counts with planted programs, and the prior mask of their gene sets."""
    adata = simulate()
    return adata, prior_mask(adata.var_names)


@pytest.fixture(scope="module")
def program_model():
    """ProgramVI (hard mask, labels = planted groups) trained on the planted data."""
    from scvi_interpret.model import ProgramVI

    adata = simulate()
    scvi.settings.seed = 0
    ProgramVI.setup_anndata(adata, layer="counts", labels_key="group")
    model = ProgramVI(adata, gene_programs=prior_mask(adata.var_names), min_genes=5, n_hidden=32)
    model.train(max_epochs=80, train_size=1.0, enable_progress_bar=False)
    return model, adata


@pytest.fixture(scope="module")
def small_linear_vi(liu_rna):
    """LinearVI (4 factors) trained 1 epoch on 300 Liu cells, and its AnnData."""
    from scvi_interpret.model import LinearVI

    adata = liu_rna[:300].copy()
    LinearVI.setup_anndata(adata, batch_key="batch")
    model = LinearVI(adata, n_latent=4, n_hidden=16)
    model.train(max_epochs=1, enable_progress_bar=False)
    return model, adata


@pytest.fixture(scope="module")
def small_classifier(data_dir):
    """MultimodalClassifier (RNA + ADT) trained 1 epoch on the shipped mosaic, and its MuData."""
    import scvi_interpret as si
    from scvi_interpret.model import MultimodalClassifier

    mdata = MultimodalClassifier.align_mudata(si.datasets.pbmc_mosaic(data_dir))
    MultimodalClassifier.setup_mudata(mdata, labels_key="cell_type", batch_key="batch",
                                      modalities={"rna": "rna", "protein": "adt"})  # fmt: skip
    model = MultimodalClassifier(mdata, n_latent=4, n_hidden=16)
    model.train(max_epochs=1, enable_progress_bar=False)
    return model, mdata
