"""Which cells a global importance reads: a stratified sample grown until its ranks hold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scvi import REGISTRY_KEYS

from scvi_interpret.tl import round_sizes, stratified_order

from ._cells import Cells

# the pool of a two-phase sample (latent clusters as strata) holds this many times the sample
POOL_FACTOR = 10
N_LATENT_CLUSTERS = 10
FIRST_ROUND = 1000
# on a store the pool is made of runs of this many consecutive cells (see run_pool)
STORE_RUN = 256


@dataclass
class SamplePlan:
    """The rounds of a sampled global importance.

    Attributes
    ----------
    order
        Cell positions in sampling order: every prefix is a proportional stratified sample.
    pool
        Where the sample is drawn from: ``"all cells"``, ``"uniform pool of N"`` or
        ``"N cells in runs of 256"`` (stores).
    sizes
        Cumulative sample size after each round.
    strata
        What the strata are made of (``"labels"``, ``"latent clusters"``, and/or ``"batch"``).
    adaptive
        Stop at the first round whose top ranks are stable (else run every round).
    """

    order: np.ndarray
    sizes: list[int]
    strata: list[str]
    adaptive: bool
    pool: str = "all cells"

    def rounds(self):
        """``(round number, sorted positions new in that round)`` for each round."""
        start = 0
        for i, stop in enumerate(self.sizes):
            yield i, np.sort(self.order[start:stop])
            start = stop


def plan_sample(model, cells: Cells, n_cells: int | str, max_cells: int, seed: int) -> SamplePlan:
    """Strata and rounds for ``n_cells`` (``"auto"`` or a size) of the cells.

    Strata are the registered labels when the model has them (more than one), otherwise
    k-means clusters of the latent space of a uniform pool of ``POOL_FACTOR`` × the largest
    sample (two-phase sampling: only the pool's latents are computed); crossed with the batch.
    From a store (a data module) the pool is ``POOL_FACTOR`` × the largest sample in random
    runs of consecutive cells (:func:`run_pool`), also with labels.
    """
    largest = max_cells if n_cells == "auto" else n_cells
    largest = min(largest, cells.n_obs)
    rng = np.random.default_rng(seed)
    labels = model._background_labels(cells)
    batches = cells.codes(REGISTRY_KEYS.BATCH_KEY)
    pool_size = min(cells.n_obs, POOL_FACTOR * largest)
    if cells.datamodule is not None:  # a store: whole runs of cells, so reads stay bounded
        pool = run_pool(cells.n_obs, pool_size, rng)
    elif labels is not None:
        pool = np.arange(cells.n_obs)
    else:
        pool = np.sort(rng.choice(cells.n_obs, pool_size, replace=False))
    if labels is not None:
        strata, kinds = labels[pool].astype(np.int64), ["labels"]
    else:
        strata, kinds = latent_clusters(model, cells, pool, seed), ["latent clusters"]
    if batches is not None and len(np.unique(batches)) > 1:
        batch = np.asarray(batches).ravel()[pool].astype(np.int64)
        strata, kinds = strata * (int(batch.max()) + 1) + batch, [*kinds, "batch"]
    order = pool[stratified_order(strata, seed)]
    if n_cells == "auto":
        sizes = round_sizes(len(order), min(FIRST_ROUND, largest), largest)
    else:
        sizes = [largest]
    if len(pool) == cells.n_obs:
        described = "all cells"
    elif cells.datamodule is not None:
        described = f"{len(pool)} cells in runs of {STORE_RUN}"
    else:
        described = f"uniform pool of {len(pool)}"
    return SamplePlan(order, sizes, kinds, n_cells == "auto", described)


def run_pool(n_obs: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of random runs of :data:`STORE_RUN` consecutive cells, about ``size`` in all.

    A store compresses its counts in tiles of consecutive cells, so reading one scattered
    cell costs a whole tile: a uniform sample of 8,000 cells out of 10⁶ reads most of the
    store. Runs keep the reads to about ``size / STORE_RUN`` tiles, whatever the store's size.
    """
    n_runs = -(-n_obs // STORE_RUN)
    chosen = rng.choice(n_runs, min(n_runs, -(-size // STORE_RUN)), replace=False)
    starts = np.sort(chosen) * STORE_RUN
    return np.concatenate([np.arange(s, min(s + STORE_RUN, n_obs)) for s in starts])


def latent_clusters(model, cells: Cells, pool: np.ndarray, seed: int) -> np.ndarray:
    """k-means clusters (codes, shape (len(pool),)) of the posterior means of the pool."""
    from sklearn.cluster import MiniBatchKMeans

    latent = model._latent_of(cells, pool, batch_size=1024)
    n_clusters = int(min(N_LATENT_CLUSTERS, max(1, len(pool) // 50)))
    if n_clusters == 1:
        return np.zeros(len(pool), dtype=np.int64)
    kmeans = MiniBatchKMeans(n_clusters, random_state=seed, n_init=3, batch_size=4096)
    return kmeans.fit_predict(latent).astype(np.int64)


def bootstrap_replicates(n_targets: int, n_features: int) -> int:
    """Poisson bootstrap replicates: 100, fewer (not under 20) for very wide tables."""
    return int(np.clip(2**25 // max(1, n_targets * n_features), 20, 100))
