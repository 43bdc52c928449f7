"""Every tutorial runs in reduced mode, and the committed copies are executed, error-free runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "tutorials").glob("*.ipynb"))
IDS = [p.stem for p in TUTORIALS]
CONCLUSIONS_HOLD = "Full run: the conclusions stated above hold."


def test_the_tutorials_exist():
    assert {p.stem for p in TUTORIALS} >= {
        "factors_and_programs",
        "multimodal_classification",
        "missing_modalities",
        "multiome_classification",
        "atlas_scale",
    }


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory) -> str:
    """A kernel spec that runs this interpreter, so notebooks see the tested installation."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "scvi-interpret-tests"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "tests", "language": "python"})
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(root))
        yield "scvi-interpret-tests"


@pytest.mark.parametrize("path", TUTORIALS, ids=IDS)
def test_tutorial_runs_in_reduced_mode(path, kernel_name, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SCVI_INTERPRET_TUTORIAL_MODE", "reduced")
    monkeypatch.setenv("SCVI_INTERPRET_DATA", str(data_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=kernel_name,
        timeout=600,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error


@pytest.mark.parametrize("path", TUTORIALS, ids=IDS)
def test_committed_tutorial_is_a_full_error_free_run(path):
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), "not executed"
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "cells not run top to bottom in one go"
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure"
    text = "".join(str(o.get("text", "")) for o in outputs)
    assert "SCVI_INTERPRET_TUTORIAL_MODE" not in text
    first = code[0].source + code[1].source
    assert "REDUCED" in first  # the switch the reduced run uses
    # the last cell checks the conclusions stated in the text, in full mode only
    last = "".join(str(o.get("text", "")) for o in code[-1].get("outputs", []))
    assert "if not REDUCED" in code[-1].source and CONCLUSIONS_HOLD in last
