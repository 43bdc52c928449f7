import shutil

import pandas as pd

from scvi_interpret.cli import main


def test_demo_writes_tables_and_figures(tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--max-epochs", "3", "--n-latent", "4"]) == 0
    for name in [
        "loadings.csv",
        "top_genes.csv",
        "factor_by_cell_type.csv",
        "latent.csv",
        "loadings.png",
        "factor_by_cell_type.png",
        "summary.txt",
    ]:
        assert (tmp_path / name).stat().st_size > 0, name
    loadings = pd.read_csv(tmp_path / "loadings.csv", index_col=0)
    assert loadings.shape == (500, 4)
    latent = pd.read_csv(tmp_path / "latent.csv", index_col=0)
    assert len(latent) == 1200 and set(latent["cell_type"]) >= {"B", "NK", "Mono"}


def test_console_script_is_installed():
    assert shutil.which("scvi-interpret") is not None
