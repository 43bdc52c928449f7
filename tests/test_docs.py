import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_docs_build_without_warnings(tmp_path):
    """The documentation builds with warnings as errors and shows every public name."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    page = (tmp_path / "html" / "generated" / "scvi_interpret.model.LinearVI.html").read_text()
    for method in [
        "setup_anndata",
        "get_loadings",
        "get_latent_representation",
        "load_query_data",
    ]:
        assert method in page
    html = tmp_path / "html"
    for page in [
        "user_guide/linear_vi",
        "user_guide/program_vi",
        "user_guide/multimodal_classifier",
        "reading_attributions",
        "installation",
        "atlas_scale",
        "interpretation_at_scale",
        "errors",
    ]:
        assert (html / f"{page}.html").is_file(), page
    tutorials = sorted((DOCS.parent / "tutorials").glob("*.ipynb"))
    assert len(tutorials) >= 3
    for notebook in tutorials:  # rendered with their committed outputs, figures included
        page = (html / "tutorials" / f"{notebook.stem}.html").read_text()
        assert "<img" in page, notebook.stem
    import scvi_interpret as si

    for module in ["model", "data", "datasets", "errors", "genesets", "tl", "pl", "nn"]:
        for name in getattr(si, module).__all__:
            if name[0].isupper() and module in {"genesets"}:
                continue  # type aliases
            assert (
                tmp_path / "html" / "generated" / f"scvi_interpret.{module}.{name}.html"
            ).is_file(), (module, name)
