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


def _mosaic(data_dir):
    """The shipped mosaic CITE-seq data, set up for MultimodalClassifier."""
    mdata = MultimodalClassifier.align_mudata(si.datasets.pbmc_mosaic(data_dir))
    MultimodalClassifier.setup_mudata(mdata, labels_key="cell_type", batch_key="batch",
                                      modalities={"rna": "rna", "protein": "adt"})  # fmt: skip
    return mdata


@pytest.mark.parametrize("max_epochs", [0, -1, 2.5, True])
def test_non_positive_or_fractional_max_epochs_is_refused(liu_rna, max_epochs):
    adata = liu_rna[:200].copy()
    LinearVI.setup_anndata(adata, batch_key="batch")
    model = LinearVI(adata, n_latent=4, n_hidden=16)
    with pytest.raises(ValueError, match="max_epochs must be a positive whole number"):
        model.train(max_epochs=max_epochs)
    assert not model.is_trained_


def test_classifier_refuses_zero_epochs(data_dir):
    mdata = _mosaic(data_dir)
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


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"group_lasso": -0.05}, ValueError, "group_lasso must be at least 0.0"),
        ({"soft_mask_l1": -1.0, "mask_type": "soft"}, ValueError, "soft_mask_l1 must be at"),
        ({"unconstrained_l1": float("nan")}, ValueError, "unconstrained_l1 must be finite"),
        ({"dropout_rate": 1.0}, ValueError, "dropout_rate must be below 1.0"),
        ({"n_hidden": 0}, ValueError, "n_hidden must be at least 1"),
        ({"n_unconstrained": 1.5}, TypeError, "n_unconstrained must be a whole number"),
        ({"min_genes": 0}, ValueError, "min_genes must be at least 1"),
    ],
)
def test_program_vi_hyperparameters_out_of_range_are_named(
    pancreas_small, gmt_dir, settings, error, message
):
    from scvi_interpret.model import ProgramVI

    ProgramVI.setup_anndata(pancreas_small, layer="counts")
    programs = gmt_dir / "h.all.v7.5.1.symbols.gmt"
    with pytest.raises(error, match=message):
        ProgramVI(pancreas_small, gene_programs=programs, **settings)


def test_classifier_trained_twice_keeps_its_calibration_cells_unseen(data_dir):
    mdata = _mosaic(data_dir)
    model = MultimodalClassifier(mdata, n_latent=4, n_hidden=16)
    model.train(max_epochs=1, enable_progress_bar=False)
    first_train, first_held_out = set(model.train_indices), set(model.validation_indices)
    model.train(max_epochs=1, enable_progress_bar=False)
    assert set(model.train_indices) == first_train
    assert set(model.validation_indices) == first_held_out  # never trained on


def _fresh(adata):
    """A copy without scvi-tools' setup columns, as a user would pass new data."""
    fresh = adata.copy()
    fresh.obs = fresh.obs[[c for c in fresh.obs if not c.startswith("_scvi")]]
    fresh.uns = {}
    return fresh


def test_load_refuses_other_features_before_setting_anything_up(small_linear_vi, tmp_path):
    model, adata = small_linear_vi
    model.save(tmp_path / "m")
    permuted = _fresh(adata)[:, ::-1].copy()
    renamed = _fresh(adata)
    renamed.var_names = [f"gene_{i}" for i in range(renamed.n_vars)]
    for data, message in ((permuted, "another order"), (renamed, "are missing")):
        obs, uns = data.obs.copy(), dict(data.uns)
        with pytest.raises(ValueError, match=message):
            LinearVI.load(tmp_path / "m", adata=data)
        assert data.obs.equals(obs) and data.uns.keys() == uns.keys()  # nothing set up
    loaded = LinearVI.load(tmp_path / "m", adata=_fresh(adata))
    np.testing.assert_array_equal(loaded.get_latent_representation(),
                                  model.get_latent_representation())  # fmt: skip


def test_load_refuses_a_changed_or_broken_model_file(small_linear_vi, tmp_path):
    import torch

    model, adata = small_linear_vi
    model.save(tmp_path / "m")
    model_file = tmp_path / "m" / "model.pt"
    raw = bytearray(model_file.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    model_file.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="checksum differs"):
        LinearVI.load(tmp_path / "m", adata=_fresh(adata))
    # a file saved without a checksum (older versions) whose weights are not finite
    model.save(tmp_path / "n")
    saved = torch.load(tmp_path / "n" / "model.pt", weights_only=False)
    name = next(k for k, v in saved["model_state_dict"].items() if v.is_floating_point())
    saved["model_state_dict"][name] = saved["model_state_dict"][name] * float("nan")
    torch.save(saved, tmp_path / "n" / "model.pt")
    (tmp_path / "n" / "model.pt.sha256").unlink()
    with pytest.raises(ValueError, match="NaN or infinite"):
        LinearVI.load(tmp_path / "n", adata=_fresh(adata))


def test_prepare_query_anndata_leaves_the_query_as_it_is(small_linear_vi):
    model, adata = small_linear_vi
    query = _fresh(adata)[:, 10:].copy()
    padded = LinearVI.prepare_query_anndata(query, model)
    assert query.n_vars == adata.n_vars - 10  # the user's object is unchanged
    assert list(padded.var_names) == list(adata.var_names)
    assert padded[:, :10].X.sum() == 0  # the missing genes read as zero counts


def test_query_modality_without_shared_features_is_refused(data_dir):
    mdata = _mosaic(data_dir)
    model = MultimodalClassifier(mdata, n_latent=4, n_hidden=16)
    model.train(max_epochs=1, enable_progress_bar=False)
    query = mdata[:100].copy()
    query.mod["adt"].var_names = [f"ADT-{name}" for name in query.mod["adt"].var_names]
    with pytest.raises(ValueError, match="shares none of the reference's"):
        MultimodalClassifier.prepare_query_mudata(query, model)
    half = mdata[:100].copy()
    n_protein = half.mod["adt"].n_vars
    half.mod["adt"].var_names = [
        f"ADT-{n}" if i % 2 else n for i, n in enumerate(half.mod["adt"].var_names)
    ]
    with pytest.warns(UserWarning, match=rf"{n_protein // 2} of the reference's {n_protein}"):
        MultimodalClassifier.prepare_query_mudata(half, model)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n_latent": 0}, "n_latent must be at least 1"),
        ({"dropout_rate": 1.5}, "dropout_rate must be below 1.0"),
        ({"n_layers": -1}, "n_layers must be at least 1"),
    ],
)
def test_linear_vi_hyperparameters_out_of_range_are_named(liu_rna, settings, message):
    adata = liu_rna[:100].copy()
    LinearVI.setup_anndata(adata, batch_key="batch")
    with pytest.raises(ValueError, match=message):
        LinearVI(adata, **settings)


def test_classifier_hyperparameters_out_of_range_are_named(data_dir):
    mdata = _mosaic(data_dir)
    with pytest.raises(ValueError, match=r"modality_dropout must be at least 0\.0"):
        MultimodalClassifier(mdata, modality_dropout=-0.1)
    with pytest.raises(ValueError, match=r"classification_ratio must be at least 0\.0"):
        MultimodalClassifier(mdata, classification_ratio=-1.0)
