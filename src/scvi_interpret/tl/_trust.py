"""How far to trust an attribution: deletion curve, randomisation check, seed stability."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from scvi_interpret.errors import InvalidArgumentError


def deletion_curve(
    fn: Callable[..., torch.Tensor],
    inputs: torch.Tensor,
    values: np.ndarray,
    baseline: torch.Tensor,
    ks: Sequence[int] = (1, 2, 5, 10, 20, 50, 100),
    n_random: int = 5,
    seed: int = 0,
    extra: dict[str, torch.Tensor] | None = None,
) -> pd.DataFrame:
    """Output after replacing the top-k attributed features by the baseline, vs k random ones.

    For each cell, features are ordered by their SHAP value (largest first: those that push the
    output up). Replacing the top k by their baseline value should lower the output much more
    than replacing k random features; if not, the attribution does not track the model.

    Parameters
    ----------
    fn
        The explained function, inputs (m, n_features) → outputs (m,) for one target.
    inputs
        Cells, shape (n_cells, n_features).
    values
        Their SHAP values for the target, shape (n_cells, n_features).
    baseline
        Replacement value per feature (e.g. the background mean), shape (n_features,).
    ks
        Numbers of features to delete.
    n_random
        Random deletions averaged per k.
    seed
        Random seed.
    extra
        Per-cell keyword tensors for ``fn`` (covariates).

    Returns
    -------
    DataFrame with ``k``, ``output_top`` and ``output_random`` (mean over cells), and
    ``output_full`` (no deletion), one row per k.

    Examples
    --------
    >>> weight = torch.tensor([3.0, 1.0, 0.0, 0.0])
    >>> fn = lambda x: x @ weight
    >>> inputs, baseline = torch.ones(8, 4), torch.zeros(4)
    >>> values = (inputs * weight).numpy()  # exact SHAP values of the linear function
    >>> curve = si.tl.deletion_curve(fn, inputs, values, baseline, ks=(1, 2))
    >>> curve[["k", "output_top"]]
       k  output_top
    0  1         1.0
    1  2         0.0
    >>> bool((curve["output_random"] > curve["output_top"]).all())
    True
    """
    extra = extra or {}
    rng = np.random.default_rng(seed)
    n_cells, n_features = inputs.shape
    order = np.argsort(-values, axis=1)
    rows = []
    with torch.no_grad():
        full = float(fn(inputs, **extra).mean())
        for k in ks:
            k = min(int(k), n_features)
            top = inputs.clone()
            rows_index = np.repeat(np.arange(n_cells), k)
            top[rows_index, order[:, :k].ravel()] = baseline[order[:, :k].ravel()]
            random_outputs = []
            for _ in range(n_random):
                picks = np.stack(
                    [rng.choice(n_features, k, replace=False) for _ in range(n_cells)]
                )
                deleted = inputs.clone()
                deleted[rows_index, picks.ravel()] = baseline[picks.ravel()]
                random_outputs.append(float(fn(deleted, **extra).mean()))
            rows.append((k, float(fn(top, **extra).mean()), float(np.mean(random_outputs)), full))
    return pd.DataFrame(rows, columns=["k", "output_top", "output_random", "output_full"])


def rank_agreement(tables: Sequence[pd.DataFrame], n_top: int = 20) -> pd.DataFrame:
    """Agreement of feature rankings between importance tables (e.g. models of other seeds).

    Parameters
    ----------
    tables
        Two or more tables from ``get_feature_importance`` (same targets and features).
    n_top
        Size of the top sets compared.

    Returns
    -------
    DataFrame per target (and modality): ``spearman`` (mean pairwise rank correlation of the
    mean absolute SHAP values) and ``top_overlap`` (mean pairwise Jaccard index of the top
    ``n_top``).

    Examples
    --------
    >>> genes = ["MS4A1", "CD79A", "LYZ"]
    >>> run_a = pd.DataFrame({"target": "B", "modality": "rna", "feature": genes,
    ...                       "mean_abs_shap": [0.3, 0.2, 0.01]})
    >>> run_b = run_a.assign(mean_abs_shap=[0.25, 0.22, 0.02])
    >>> si.tl.rank_agreement([run_a, run_b], n_top=2)
      target modality  spearman  top_overlap
    0      B      rna       1.0          1.0
    """
    if len(tables) < 2:
        raise InvalidArgumentError("rank_agreement needs at least two importance tables.")
    keyed = [t.set_index(["target", "modality", "feature"])["mean_abs_shap"] for t in tables]
    rows = []
    for (target, modality), _ in tables[0].groupby(["target", "modality"], sort=False):
        series = [k.loc[(target, modality)] for k in keyed]
        spearman, overlap = [], []
        for a, b in combinations(series, 2):
            b = b.reindex(a.index)
            spearman.append(spearmanr(a.to_numpy(), b.to_numpy()).statistic)
            top_a, top_b = set(a.nlargest(n_top).index), set(b.nlargest(n_top).index)
            overlap.append(len(top_a & top_b) / len(top_a | top_b))
        rows.append((target, modality, float(np.mean(spearman)), float(np.mean(overlap))))
    return pd.DataFrame(rows, columns=["target", "modality", "spearman", "top_overlap"])
