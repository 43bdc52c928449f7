"""Bad input gets a named error (or the right result) and leaves the user's objects unchanged.

A start on the reliability issue: each case asserts the exception and its message, or the
corrected behaviour.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import scvi_interpret as si
from scvi_interpret.model import LinearVI, MultimodalClassifier

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.mark.parametrize("max_epochs", [0, -1, 2.5, True])
def test_non_positive_or_fractional_max_epochs_is_refused(liu_rna, max_epochs):
    adata = liu_rna[:200].copy()
    LinearVI.setup_anndata(adata, batch_key="batch")
    model = LinearVI(adata, n_latent=4, n_hidden=16)
    with pytest.raises(ValueError, match="max_epochs must be a positive whole number"):
        model.train(max_epochs=max_epochs)
    assert not model.is_trained_


def test_classifier_refuses_zero_epochs(data_dir):
    mdata = MultimodalClassifier.align_mudata(si.datasets.pbmc_mosaic(data_dir))
    MultimodalClassifier.setup_mudata(mdata, labels_key="cell_type", batch_key="batch",
                                      modalities={"rna": "rna", "protein": "adt"})  # fmt: skip
    model = MultimodalClassifier(mdata, n_latent=4, n_hidden=16)
    with pytest.raises(ValueError, match="max_epochs"):
        model.train(max_epochs=0)
    assert not model.is_trained_


def test_one_group_given_as_a_string_is_one_group():
    rng = np.random.default_rng(0)
    groups = ["beta"] * 20 + ["alpha"] * 20
    table = si.tl.differential_activity(rng.normal(size=(40, 3)), np.full((40, 3), 0.1), groups,
                                        ["p1", "p2", "p3"], group1="beta")  # fmt: skip
    assert table["group1"].unique().tolist() == ["beta"]  # not 'b', 'e', 't', 'a'


def test_gzipped_gmt_is_read_and_binary_junk_is_named(tmp_path, gmt_dir):
    plain = gmt_dir / "h.all.v7.5.1.symbols.gmt"
    packed = tmp_path / "h.all.gmt.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert si.genesets.read_gmt(packed) == si.genesets.read_gmt(plain)
    junk = tmp_path / "sets.gmt"
    junk.write_bytes(bytes(range(128, 256)))
    with pytest.raises(ValueError, match="not a UTF-8 text GMT file"):
        si.genesets.read_gmt(junk)
