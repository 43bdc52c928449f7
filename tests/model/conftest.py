"""Fixtures of the model tests."""

import pytest
import scvi

from scvi_interpret.model import ProgramVI
from synthetic_programs import prior_mask, simulate


@pytest.fixture
def planted():
    """Synthetic counts with planted programs, and the prior mask of their gene sets."""
    adata = simulate()
    return adata, prior_mask(adata.var_names)


@pytest.fixture(scope="module")
def program_model():
    """ProgramVI (hard mask, labels = planted groups) trained on the planted data."""
    adata = simulate()
    scvi.settings.seed = 0
    ProgramVI.setup_anndata(adata, layer="counts", labels_key="group")
    model = ProgramVI(adata, gene_programs=prior_mask(adata.var_names), min_genes=5, n_hidden=32)
    model.train(max_epochs=80, train_size=1.0, enable_progress_bar=False)
    return model, adata
