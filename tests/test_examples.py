"""Every public name has an example in its docstring; those of tl, nn and genesets run."""

import doctest
import inspect

import numpy as np
import pandas as pd
import pytest
import torch

import scvi_interpret as si

MODULES = ["model", "datasets", "errors", "genesets", "tl", "pl", "nn"]
RUN = ["errors", "genesets", "tl", "nn"]  # self-contained; the others need data or a trained model
PUBLIC = [(m, n) for m in MODULES for n in getattr(si, m).__all__]
RUNNABLE = [(m, n) for m, n in PUBLIC if m in RUN and n != "GeneSets"]  # GeneSets: an alias


@pytest.mark.parametrize(("module", "name"), PUBLIC, ids=[f"{m}.{n}" for m, n in PUBLIC])
def test_public_name_has_an_example(module, name):
    if module == "genesets" and name == "GeneSets":
        pytest.skip("a type alias (documented in the API page)")
    text = inspect.getdoc(getattr(getattr(si, module), name)) or ""
    assert "Examples\n--------\n" in text and ">>> " in text, f"si.{module}.{name}"


@pytest.mark.parametrize(("module", "name"), RUNNABLE, ids=[f"{m}.{n}" for m, n in RUNNABLE])
def test_example_runs_and_prints_what_it_shows(module, name):
    obj = getattr(getattr(si, module), name)
    globs = {"si": si, "np": np, "pd": pd, "torch": torch}
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(obj, name, globs=globs) if t.examples]
    assert tests, f"si.{module}.{name} has no runnable example"
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"si.{module}.{name}: {runner.failures} failing example(s)"
