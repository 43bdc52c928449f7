"""Synthetic counts with planted gene programs: a ground truth the real data cannot give."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from synthetic_counts import negative_binomial_counts

N_GENES = 120
PROGRAMS = {  # prior gene sets, by gene position
    "PROG_A": range(0, 15),
    "PROG_B": range(15, 30),
    "PROG_SILENT_C": range(30, 45),
    "PROG_SILENT_D": range(45, 60),
}
GAINED_GENE = 100  # co-regulated with PROG_A but in no prior set
QUERY_PROGRAM = range(60, 75)  # only active in some query cells, in no prior set


def simulate(n_per_group: int = 200, seed: int = 0, query_program: bool = False) -> ad.AnnData:
    """Counts for groups 'a' (PROG_A and gene 100 up), 'b' (PROG_B up) and 'none'.

    With ``query_program``, a fourth group 'q' has genes 60–74 up instead.
    """
    rng = np.random.default_rng(seed)
    groups = ["a", "b", "none"] + (["q"] if query_program else [])
    labels = np.repeat(groups, n_per_group)
    base = rng.gamma(2.0, 1.0, size=N_GENES)
    log_scale = np.zeros((len(labels), N_GENES))
    log_scale[np.ix_(labels == "a", [*PROGRAMS["PROG_A"], GAINED_GENE])] = np.log(4.0)
    log_scale[np.ix_(labels == "b", list(PROGRAMS["PROG_B"]))] = np.log(4.0)
    if query_program:
        log_scale[np.ix_(labels == "q", list(QUERY_PROGRAM))] = np.log(4.0)
    return negative_binomial_counts(base * np.exp(log_scale), labels, rng, 1500, theta=20.0)


def prior_mask(var_names) -> pd.DataFrame:
    mask = pd.DataFrame(False, index=var_names, columns=list(PROGRAMS))
    for name, genes in PROGRAMS.items():
        mask.iloc[list(genes), mask.columns.get_loc(name)] = True
    return mask
