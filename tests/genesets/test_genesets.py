import numpy as np
import pandas as pd
import pytest

import scvi_interpret as si

HALLMARK = "h.all.v7.5.1.symbols.gmt"
REACTOME = "c2.cp.reactome.v7.5.1.symbols.gmt"


@pytest.fixture(scope="module")
def hallmark(gmt_dir):
    return si.genesets.read_gmt(gmt_dir / HALLMARK)


def test_read_gmt_hallmark(hallmark):
    assert len(hallmark) == 50
    assert sum(len(genes) for genes in hallmark.values()) == 7321
    assert hallmark["HALLMARK_TNFA_SIGNALING_VIA_NFKB"][:3] == ["JUNB", "CXCL2", "ATF3"]


def test_hallmark_coverage_on_pancreas(hallmark, pancreas_full):
    report = si.genesets.coverage(pancreas_full.var_names, hallmark)
    assert report["n_genes_in_set"].sum() == 7321
    assert report["n_genes_found"].sum() == 7137
    assert report.loc["HALLMARK_TNFA_SIGNALING_VIA_NFKB"].tolist() == [200, 198, 0.99]
    mask = si.genesets.build_mask(pancreas_full.var_names, hallmark, min_genes=12)
    assert mask.shape == (20125, 50)
    assert mask.dtypes.map(pd.api.types.is_bool_dtype).all()
    assert (mask.sum(axis=0).to_numpy() == report["n_genes_found"].to_numpy()).all()
    # each column is exactly set ∩ var_names
    program = "HALLMARK_HYPOXIA"
    expected = set(hallmark[program]) & set(pancreas_full.var_names)
    assert set(mask.index[mask[program]]) == expected


def test_reactome_mask_on_pancreas(gmt_dir, pancreas_full):
    mask = si.genesets.build_mask(pancreas_full.var_names, gmt_dir / REACTOME, min_genes=12)
    report = pd.DataFrame(mask.attrs["coverage"])
    assert len(report) == 1615
    assert report["n_genes_in_set"].sum() == 89476
    assert report["n_genes_found"].sum() == 81357
    assert mask.shape == (20125, 1159)
    assert report["kept"].sum() == 1159
    assert (report.loc[report["kept"], "n_genes_found"] >= 12).all()
    capped = si.genesets.build_mask(
        pancreas_full.var_names, gmt_dir / REACTOME, min_genes=12, max_genes=100
    )
    assert capped.sum(axis=0).max() <= 100 and capped.shape[1] < mask.shape[1]


def test_masks_of_two_collections_concatenate(gmt_dir, pancreas_full):
    hallmark = si.genesets.build_mask(pancreas_full.var_names, gmt_dir / HALLMARK, min_genes=12)
    reactome = si.genesets.build_mask(pancreas_full.var_names, gmt_dir / REACTOME, min_genes=12)
    both = pd.concat([hallmark, reactome], axis=1)  # failed while attrs held DataFrames
    assert both.shape == (20125, hallmark.shape[1] + reactome.shape[1])
    assert both.attrs == {}  # pandas keeps attrs only when all inputs share them
    again = pd.concat([hallmark, hallmark.copy()], axis=1)
    assert again.attrs["coverage"] == hallmark.attrs["coverage"]


def test_dict_dataframe_and_case_insensitive_inputs_agree(hallmark, pancreas_full):
    genes = pancreas_full.var_names
    reference = si.genesets.build_mask(genes, hallmark, min_genes=12)
    long = pd.DataFrame(
        [(name, gene) for name, members in hallmark.items() for gene in members],
        columns=["program", "gene"],
    )
    from_frame = si.genesets.build_mask(genes, long, min_genes=12)
    pd.testing.assert_frame_equal(reference, from_frame)
    lower = si.genesets.build_mask(genes.str.lower(), hallmark, min_genes=12, case_sensitive=False)
    assert np.array_equal(lower.to_numpy(), reference.to_numpy())
    with pytest.raises(ValueError, match="No gene of any"):
        si.genesets.build_mask(genes.str.lower(), hallmark)


def test_duplicates_are_handled(tmp_path):
    gmt = tmp_path / "sets.gmt"
    gmt.write_text("A\tdesc\tG1\tG2\tG2\nB\tdesc\tG3\n")
    assert si.genesets.read_gmt(gmt) == {"A": ["G1", "G2"], "B": ["G3"]}
    gmt.write_text("A\tdesc\tG1\nA\tdesc\tG2\n")
    with pytest.raises(ValueError, match="occurs twice"):
        si.genesets.read_gmt(gmt)
    with pytest.raises(ValueError, match="var_names_make_unique"):
        si.genesets.build_mask(["G1", "G1", "G2"], {"A": ["G1"]})


def test_no_overlap_error_shows_both_sides(hallmark):
    mouse_like = [g.capitalize() for g in hallmark["HALLMARK_HYPOXIA"] if g.capitalize() != g]
    with pytest.raises(ValueError, match="mouse") as info:
        si.genesets.build_mask(mouse_like, hallmark)
    assert mouse_like[0] in str(info.value)
    ensembl = [f"ENSG{i:011d}" for i in range(50)]
    with pytest.raises(ValueError, match="Ensembl"):
        si.genesets.build_mask(ensembl, hallmark)


def test_no_program_passes_filter(hallmark, pancreas_full):
    with pytest.raises(ValueError, match="Lower `min_genes`"):
        si.genesets.build_mask(pancreas_full.var_names, hallmark, min_genes=500)
    with pytest.raises(TypeError, match="single string"):
        si.genesets.build_mask(pancreas_full.var_names, {"A": "CD14"})
