"""Synthetic RNA + ATAC counts with planted class markers in both modalities.

No multiome file is available offline, so the ATAC path is tested on data generated here:
class ``k`` has genes ``MARKERS_PER_CLASS * k`` … up in RNA and peaks likewise up in ATAC.
"""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

CLASSES = ["alpha", "beta", "gamma"]
N_GENES, N_PEAKS, MARKERS_PER_CLASS = 60, 90, 5


def rna_markers(label: str) -> list[str]:
    k = CLASSES.index(label)
    return [f"gene_{i}" for i in range(k * MARKERS_PER_CLASS, (k + 1) * MARKERS_PER_CLASS)]


def atac_markers(label: str) -> list[str]:
    k = CLASSES.index(label)
    return [f"peak_{i}" for i in range(k * MARKERS_PER_CLASS, (k + 1) * MARKERS_PER_CLASS)]


def _counts(rng, labels, n_features, library, fold, theta):
    base = rng.gamma(2.0, 1.0, size=n_features)
    log_scale = np.zeros((len(labels), n_features))
    for k, label in enumerate(CLASSES):
        columns = range(k * MARKERS_PER_CLASS, (k + 1) * MARKERS_PER_CLASS)
        log_scale[np.ix_(labels == label, list(columns))] = np.log(fold)
    share = base * np.exp(log_scale)
    share /= share.sum(1, keepdims=True)
    mu = share * rng.lognormal(np.log(library), 0.3, size=(len(labels), 1))
    if theta is None:
        return rng.poisson(mu).astype(np.float32)
    return rng.poisson(rng.gamma(theta, mu / theta)).astype(np.float32)


def simulate_multiome(n_per_class: int = 150, seed: int = 0) -> md.MuData:
    """MuData ``rna`` (NB counts) + ``atac`` (Poisson fragment counts), ``obs['cell_type']``,
    ``obs['batch']`` (two batches)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(CLASSES, n_per_class)
    names = [f"cell_{i}" for i in range(len(labels))]
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(labels),
            "batch": pd.Categorical(np.where(rng.random(len(labels)) < 0.5, "b0", "b1")),
        },
        index=names,
    )
    rna = ad.AnnData(
        _counts(rng, labels, N_GENES, 1000, 4.0, 10.0),
        obs=pd.DataFrame(index=names),
        var=pd.DataFrame(index=[f"gene_{i}" for i in range(N_GENES)]),
    )
    atac = ad.AnnData(
        _counts(rng, labels, N_PEAKS, 300, 4.0, None),
        obs=pd.DataFrame(index=names),
        var=pd.DataFrame(index=[f"peak_{i}" for i in range(N_PEAKS)]),
    )
    mdata = md.MuData({"rna": rna, "atac": atac})
    mdata.obs = obs
    return mdata


def fit_classifier(mdata: md.MuData, modalities: dict[str, str], max_epochs: int, **kwargs):
    """Set up ``mdata`` (labels ``cell_type``, batch ``batch``) and train a small classifier."""
    import scvi

    from scvi_interpret.model import MultimodalClassifier

    scvi.settings.seed = 0
    MultimodalClassifier.setup_mudata(
        mdata, labels_key="cell_type", batch_key="batch", modalities=modalities
    )
    train_size = kwargs.pop("train_size", 0.9)
    model = MultimodalClassifier(mdata, **kwargs)
    model.train(max_epochs=max_epochs, train_size=train_size, enable_progress_bar=False)
    return model
