"""Public loaders: each returns raw counts with `cell_type` and `batch` in `.obs`."""

from __future__ import annotations

import os
import warnings

import anndata as ad
import mudata as md
import pandas as pd

from ._files import (
    BMMC_MULTIOME,
    PANCREAS,
    PBMC_CITESEQ,
    PBMC_MOSAIC,
    DataFile,
    DataFileMismatchError,
    locate,
)


def _check_shape(obj: ad.AnnData | md.MuData, expected: dict[str, tuple[int, int]], name: str):
    for key, shape in expected.items():
        found = obj.shape if key == "" else obj.mod[key].shape
        if tuple(found) != shape:
            where = name if key == "" else f"{name}[{key!r}]"
            raise DataFileMismatchError(f"{where} has shape {found}, expected {shape}.")


def _read_mudata(data_file: DataFile, data_dir, download: bool = True) -> md.MuData:
    path = locate(data_file, data_dir, download)
    with warnings.catch_warnings():
        # mudata announces a future change of its pull/update defaults on every read
        warnings.simplefilter("ignore", FutureWarning)
        # features are unique per modality only (a gene CD14 and a protein CD14): expected
        warnings.filterwarnings(
            "ignore", message=".*var_names are intersecting", category=UserWarning
        )
        return md.read_h5mu(path)


def _as_category(frame: pd.DataFrame, columns: list[str]) -> None:
    for column in columns:
        if column in frame:
            frame[column] = frame[column].astype("category")


def pancreas(data_dir: str | os.PathLike | None = None, download: bool = True) -> ad.AnnData:
    """Human pancreas, donor 1 of Baron et al. (2016).

    Parameters
    ----------
    data_dir
        Folder with ``pancreas_baron_human1.h5ad``; defaults to ``$SCVI_INTERPRET_DATA``,
        then the user cache folder.
    download
        If the file is in none of those folders, download its published archive (once,
        checksum-verified, into ``data_dir`` or the user cache folder) and convert it.
        ``False`` raises :class:`DataFileMissingError` instead.

    Returns
    -------
    AnnData of shape (1,937 cells, 20,125 genes): raw integer UMI counts in ``.X`` and in
    ``.layers["counts"]``, ``obs["cell_type"]`` (14 types) and ``obs["batch"]`` (the donor).

    Examples
    --------
    >>> adata = si.datasets.pancreas()  # from $SCVI_INTERPRET_DATA, or data_dir=
    >>> adata
    AnnData object with n_obs × n_vars = 1937 × 20125
        obs: 'cell_type', 'donor', 'batch'
        layers: 'counts'
    """
    adata = ad.read_h5ad(locate(PANCREAS, data_dir, download))
    _check_shape(adata, {"": (1937, 20125)}, "pancreas")
    adata.obs["batch"] = adata.obs["donor"]
    _as_category(adata.obs, ["cell_type", "batch", "donor"])
    adata.layers["counts"] = adata.X.copy()
    return adata


def pbmc_citeseq(data_dir: str | os.PathLike | None = None, download: bool = True) -> md.MuData:
    """CITE-seq PBMCs of COVID-19 patients and healthy controls, Liu et al. (2021).

    Parameters
    ----------
    data_dir
        Folder with ``pbmc_citeseq_liu2021.h5mu``; defaults to ``$SCVI_INTERPRET_DATA``,
        then the user cache folder.
    download
        If the file is in none of those folders, download its published archive (once,
        checksum-verified, into ``data_dir`` or the user cache folder) and convert it.
        ``False`` raises :class:`DataFileMissingError` instead.

    Returns
    -------
    MuData with 30,534 cells: ``rna`` (1,000 highly variable genes) and ``prot``
    (192 antibodies, isotype controls included), raw counts in ``.X`` of each.
    ``obs`` has ``cell_type`` (17), ``batch`` (B1–B3), ``donor``, ``sample_id``,
    ``condition``, ``age_interval`` and ``cohort``. Feature names are unique within a
    modality only: 23 proteins share their name with a gene.

    Examples
    --------
    >>> mdata = si.datasets.pbmc_citeseq()
    >>> mdata["rna"].n_vars, mdata["prot"].n_vars
    (1000, 192)
    >>> mdata.obs["batch"].value_counts().sort_index().index.tolist()
    ['B1', 'B2', 'B3']
    """
    mdata = _read_mudata(PBMC_CITESEQ, data_dir, download)
    _check_shape(mdata, {"rna": (30534, 1000), "prot": (30534, 192)}, "pbmc_citeseq")
    _as_category(mdata.obs, ["cell_type", "batch", "donor", "condition"])
    return mdata


def pbmc_mosaic(data_dir: str | os.PathLike | None = None) -> md.MuData:
    """Small mosaic CITE-seq PBMC set from the Seurat WNN reference (Hao et al., 2021).

    Four batches: ``p1_0`` has RNA only, ``p2_0`` ADT only, ``p3_0`` and ``p4_0`` both.
    A copy ships inside the package, so this works offline.

    Parameters
    ----------
    data_dir
        Folder with ``pbmc_mosaic_small.h5mu``; defaults to ``$SCVI_INTERPRET_DATA``,
        then the copy shipped in the package.

    Returns
    -------
    MuData with 1,600 cells: ``rna`` (1,200 cells × 500 genes) and ``adt``
    (1,200 cells × 224 antibodies), raw counts; ``obs["cell_type"]`` (8 types) and
    ``obs["batch"]`` (4). ``obsm["rna"]``/``obsm["adt"]`` say which cells have each modality.

    Examples
    --------
    >>> mosaic = si.datasets.pbmc_mosaic()  # ships in the package
    >>> mosaic["rna"].n_obs, mosaic["adt"].n_obs, mosaic.n_obs  # overlapping, not equal
    (1200, 1200, 1600)
    >>> mdata = si.model.MultimodalClassifier.align_mudata(mosaic)
    """
    mdata = _read_mudata(PBMC_MOSAIC, data_dir)
    _check_shape(mdata, {"rna": (1200, 500), "adt": (1200, 224), "": (1600, 724)}, "pbmc_mosaic")
    for frame in [mdata.obs, *(mdata.mod[m].obs for m in mdata.mod)]:
        frame.rename(columns=lambda c: c.replace("celltype", "cell_type"), inplace=True)
        _as_category(frame, ["cell_type", "batch"])
    return mdata


def bmmc_multiome(data_dir: str | os.PathLike | None = None, download: bool = True) -> md.MuData:
    """Paired RNA + ATAC of bone-marrow cells (10x Multiome), Luecken et al. (2021).

    A 5,000-cell subset of the NeurIPS 2021 multimodal benchmark: four sequencing sites (a
    natural reference/query split), ten donors, 22 cell types.

    Parameters
    ----------
    data_dir
        Folder with ``bmmc_multiome_luecken2021.h5mu``; defaults to ``$SCVI_INTERPRET_DATA``,
        then the user cache folder.
    download
        If the file is in none of those folders, download its published archive (once,
        checksum-verified, into ``data_dir`` or the user cache folder) and convert it.
        ``False`` raises :class:`DataFileMissingError` instead.

    Returns
    -------
    MuData with 5,000 cells: ``rna`` (4,000 genes, integer UMI counts; ``var["gene_stable_id"]``
    holds Ensembl ids) and ``atac`` (20,001 peaks ``chrN-start-end``, binary accessibility;
    ``var["chrom"]``). ``obs`` has ``cell_type`` (22), ``batch`` (the site, site1–site4) and
    ``donor``; ``Site`` and ``DonorID`` as in the source.

    Examples
    --------
    >>> mdata = si.datasets.bmmc_multiome()
    >>> mdata["rna"].n_vars, mdata["atac"].n_vars
    (4000, 20001)
    >>> reference = mdata[mdata.obs["batch"] != "site4"].copy()  # query: site4
    """
    mdata = _read_mudata(BMMC_MULTIOME, data_dir, download)
    _check_shape(mdata, {"rna": (5000, 4000), "atac": (5000, 20001)}, "bmmc_multiome")
    mdata.obs["batch"] = mdata.obs["Site"]
    mdata.obs["donor"] = mdata.obs["DonorID"]
    _as_category(mdata.obs, ["cell_type", "batch", "donor"])
    return mdata
