"""Fixtures of the model tests."""

import pytest

from synthetic_programs import prior_mask, simulate


@pytest.fixture
def planted():
    """Synthetic counts with planted programs, and the prior mask of their gene sets."""
    adata = simulate()
    return adata, prior_mask(adata.var_names)
