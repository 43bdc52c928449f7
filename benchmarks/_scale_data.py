"""Resampled Liu RNA data sets of 10^5–10^6 cells, as h5ad and TileDB-SOMA, cached on disk.

Cells are drawn with replacement from the 30,534 Liu CITE-seq cells (1,000 genes); each drawn
cell's counts are binomially thinned with a keep probability drawn uniformly from [0.5, 1]
(so no two copies are equal and depths vary), and its labels (cell type, batch) are kept.
Cells left with no counts are dropped. Written in chunks: memory stays at one chunk.

Files go to ``$SCVI_INTERPRET_CACHE/scale`` (default ``~/.cache/scvi_interpret/scale``),
never into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
from scipy import sparse

CHUNK = 50_000


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "scvi_interpret"
    return Path(os.environ.get("SCVI_INTERPRET_CACHE", default)) / "scale"


def _source(data_dir: Path):
    import mudata as md

    mdata = md.read_h5mu(data_dir / "pbmc_citeseq_liu2021.h5mu")
    rna = mdata.mod["rna"]
    counts = sparse.csr_matrix(rna.X, dtype=np.float32)
    obs = mdata.obs.loc[rna.obs_names, ["cell_type", "batch"]].astype(str)
    return counts, obs, rna.var_names


def _thinned_chunk(counts, obs, rng, n: int):
    picks = rng.integers(0, counts.shape[0], n)
    block = counts[picks].tocsr()
    keep = np.repeat(rng.uniform(0.5, 1.0, n), np.diff(block.indptr))
    block.data = rng.binomial(block.data.astype(np.int64), keep).astype(np.float32)
    block.eliminate_zeros()
    has_counts = np.diff(block.indptr) > 0
    return block[has_counts], obs.iloc[picks[has_counts]].reset_index(drop=True)


def write_h5ad(path: Path, n_cells: int, data_dir: Path, seed: int = 0) -> Path:
    """Write ``n_cells`` resampled cells (about; empty ones dropped) to an h5ad, in chunks."""
    if path.exists():
        return path
    counts, obs, genes = _source(data_dir)
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".partial.h5ad")
    frames = []
    for start in range(0, n_cells, CHUNK):
        block, block_obs = _thinned_chunk(counts, obs, rng, min(CHUNK, n_cells - start))
        frames.append(block_obs)
        if start == 0:
            ad.AnnData(block, var=pd.DataFrame(index=genes)).write_h5ad(tmp)
        else:
            with h5py.File(tmp, "a") as f:
                ad.io.sparse_dataset(f["X"]).append(block)
    all_obs = pd.concat(frames, ignore_index=True)
    all_obs.index = all_obs.index.astype(str)
    for column in all_obs.columns:
        all_obs[column] = all_obs[column].astype("category")
    with h5py.File(tmp, "a") as f:
        del f["obs"]
        ad.io.write_elem(f, "obs", all_obs)
    tmp.rename(path)
    return path


def write_soma(uri: Path, h5ad: Path) -> Path:
    """Write the h5ad to a SOMA experiment (measurement ``RNA``, layer ``data``)."""
    import tiledbsoma.io

    if uri.exists():
        return uri
    tmp = uri.with_name(uri.name + ".partial")
    tiledbsoma.io.from_h5ad(str(tmp), str(h5ad), measurement_name="RNA", uns_keys=[])
    tmp.rename(uri)
    return uri


def ensure(n_cells: int, data_dir: Path) -> dict[str, Path]:
    """Paths of the h5ad and SOMA copies of the data set of ``n_cells``, made if missing."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    h5ad = write_h5ad(folder / f"liu_rna_{n_cells}.h5ad", n_cells, data_dir)
    soma = write_soma(folder / f"liu_rna_{n_cells}.soma", h5ad)
    return {"h5ad": h5ad, "soma": soma}
