"""Feature attribution on the Liu CITE-seq classifier: ours vs shap and captum, same work.

Per seed (0–2), in its own process: a MultimodalClassifier (RNA + protein, 1,000 genes +
192 proteins) trained ``--epochs`` (10) on all 30,534 cells; then ``--cells`` cells of batch B1
(seeded) are explained by four estimators on the very same function (the classifier's log odds
of each class as a function of the log1p inputs both encoders read, taken from the model's
attribution plan), the same background (``--background`` cells, drawn as
``get_feature_importance`` draws them), the same number of gradient evaluations per cell and
target (``--samples``) and the same targets:

- ours: ``model.get_feature_importance(indices=…, n_background=…, n_samples=…)`` — expected
  gradients, 6 Gauss–Legendre nodes on each background cell's path, the whole public call
  (table, bootstrap rank intervals) timed;
- ``shap.GradientExplainer`` (expected gradients, random background cell and position per
  sample), ``nsamples=--samples``;
- captum ``GradientShap`` (the same estimator in captum), ``n_samples=--samples``, no noise;
- captum ``IntegratedGradients`` from the background mean, ``n_steps=--samples``.

Two target modes: each cell's predicted class (shap: ``ranked_outputs=1``; captum:
``target=`` the predicted class) and all classes (shap: its default; captum: one call per
class). Per (estimator, mode): seconds and seconds per cell; additivity (median over cells
and targets of |Σ SHAP − (f(x) − reference)|, relative to the median |f(x) − reference|, the
reference being the background's mean output, or f(background mean) for integrated
gradients); agreement with ours (Pearson r over all values). Also ours over all cells
(predicted class) with its peak extra memory.

Run from the repository root (needs ``pip install captum``)::

    SCVI_INTERPRET_DATA=../shared/data python benchmarks/attribution.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from _common import data_dir, environment, recorded_command, write_results
from _memory import PeakMemory
from _seeds import (
    Method,
    add_common_arguments,
    compare,
    comparisons_table,
    rows_table,
    run_methods,
)

ESTIMATORS = (
    "ours", "shap.GradientExplainer", "captum GradientShap", "captum IntegratedGradients",
)  # fmt: skip
MODES = ("predicted class", "all classes")


def _trained_model(seed: int, args):
    import scvi

    import scvi_interpret as si
    from scvi_interpret.model import MultimodalClassifier

    mdata = si.datasets.pbmc_citeseq(data_dir())
    if args.quick:
        mdata = mdata[np.random.default_rng(0).random(mdata.n_obs) < 0.02].copy()
    scvi.settings.seed = seed
    MultimodalClassifier.setup_mudata(
        mdata, labels_key="cell_type", batch_key="batch",
        modalities={"rna": "rna", "protein": "prot"},
    )  # fmt: skip
    model = MultimodalClassifier(mdata)
    model.train(max_epochs=args.epochs, enable_progress_bar=False)
    return model, mdata


class _Explained(torch.nn.Module):
    """The classifier's log odds (cells × classes) of the joined log1p inputs, for peers."""

    def __init__(self, function, batch_index: torch.Tensor, present: torch.Tensor):
        super().__init__()
        self.function, self.batch_index, self.present = function, batch_index, present

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(x)
        return self.function(x, batch_index=self.batch_index[:1].expand(n, -1),
                             present=self.present[:1].expand(n, -1))  # fmt: skip


def _ours(model, cells, targets, args, seed) -> np.ndarray:
    _, explanations = model.get_feature_importance(
        indices=cells, target=targets, n_background=args.background, n_samples=args.samples,
        seed=seed, return_explanation=True,
    )  # fmt: skip
    values = [explanations[m].values for m in ("rna", "protein")]
    return np.concatenate([v if v.ndim == 3 else v[:, :, None] for v in values], axis=1)


def _shap(explained, background, inputs, predicted_only, args, seed) -> np.ndarray:
    import shap

    explainer = shap.GradientExplainer(explained, background)
    if predicted_only:
        values, _ = explainer.shap_values(inputs, nsamples=args.samples, ranked_outputs=1,
                                          rseed=seed)  # fmt: skip
    else:
        values = explainer.shap_values(inputs, nsamples=args.samples, rseed=seed)
    values = np.asarray(values)
    return values if values.ndim == 3 else values[:, :, None]


def _captum(method, explained, background, inputs, targets_per_call, args) -> np.ndarray:
    from captum.attr import GradientShap, IntegratedGradients

    out = []
    for target in targets_per_call:
        if method == "captum GradientShap":
            values = GradientShap(explained).attribute(
                inputs, baselines=background, n_samples=args.samples, stdevs=0.0, target=target
            )
        else:
            values = IntegratedGradients(explained).attribute(
                inputs, baselines=background.mean(0, keepdim=True), target=target,
                n_steps=args.samples, internal_batch_size=64 * args.samples,
            )  # fmt: skip
        out.append(values.detach().numpy())
    return np.stack(out, axis=2)


def _additivity(values, outputs, reference, target_index) -> float:
    """Median |Σ values − (f(x) − reference)| over cells × targets, relative to median |Δ|."""
    delta = np.take_along_axis(outputs - reference, target_index, axis=1)
    gap = np.abs(values.sum(1) - delta)
    return float(np.median(gap) / np.median(np.abs(delta)))


def run_seed(seed: int, args) -> dict:
    """All estimators and modes on one trained model; ``{row name: metrics}``."""
    from scvi_interpret.model.base._interpretability import PER_CELL_TARGET

    model, mdata = _trained_model(seed, args)
    model.module.eval()
    batch = mdata.obs["batch"].astype(str).to_numpy()
    cells = np.sort(np.random.default_rng(seed).choice(np.flatnonzero(batch == "B1"),
                                                       args.cells, replace=False))  # fmt: skip
    classes = list(model.class_names)
    plan = model._attribution_plan(None, None, "log1p")
    data = model._cells(mdata)
    background = model._background(data, plan, args.background, seed)
    ((inputs, extra),) = plan.inputs(data, cells, len(cells))
    explained = _Explained(plan.function, extra["batch_index"], extra["present"])
    predicted = extra[PER_CELL_TARGET]
    with torch.no_grad():
        outputs = explained(inputs).numpy()
        mean_background = explained(background).numpy().mean(0, keepdims=True)
        at_mean = explained(background.mean(0, keepdim=True)).numpy()
    all_index = np.tile(np.arange(len(classes)), (len(cells), 1))
    rows, ours_values = {}, {}
    for estimator in ESTIMATORS:
        for mode in MODES:
            predicted_only = mode == "predicted class"
            start = time.perf_counter()
            if estimator == "ours":
                values = _ours(model, cells, None if predicted_only else classes, args, seed)
            elif estimator == "shap.GradientExplainer":
                values = _shap(explained, background, inputs, predicted_only, args, seed)
            else:
                torch.manual_seed(seed)
                per_call = [predicted] if predicted_only else range(len(classes))
                values = _captum(estimator, explained, background, inputs, per_call, args)
            seconds = time.perf_counter() - start
            index = predicted.numpy()[:, None] if predicted_only else all_index
            reference = at_mean if "Integrated" in estimator else mean_background
            result = {
                "seconds": seconds,
                "seconds_per_cell": seconds / len(cells),
                "cells": len(cells),
                "targets_per_cell": 1 if predicted_only else len(classes),
                "relative_additivity_gap": _additivity(values, outputs, reference, index),
            }
            if estimator == "ours":
                ours_values[mode] = values
            else:
                result["pearson_r_with_ours"] = float(
                    np.corrcoef(values.ravel(), ours_values[mode].ravel())[0, 1]
                )
            rows[f"{estimator}, {mode}"] = result
    with PeakMemory() as memory:
        start = time.perf_counter()
        table = model.get_feature_importance(n_cells="all")
        seconds = time.perf_counter() - start
    rows["ours, every cell, predicted class"] = {
        "seconds": seconds, "seconds_per_cell": seconds / mdata.n_obs, "cells": mdata.n_obs,
        "targets_per_cell": 1, "peak_extra_memory_mb": memory.extra_mb,
        "median_additivity_error": table.attrs["median_additivity_error"],
    }  # fmt: skip
    return {"rows": rows, "classes": len(classes)}


METRICS = {
    "cells": "cells", "targets / cell": "targets_per_cell", "seconds": "seconds",
    "s / cell": "seconds_per_cell", "additivity gap (relative)": "relative_additivity_gap",
    "Pearson r with ours": "pearson_r_with_ours", "peak extra memory (MB)": "peak_extra_memory_mb",
}  # fmt: skip
DIGITS = {"cells": 0, "targets_per_cell": 0, "seconds": 2, "seconds_per_cell": 4,
          "peak_extra_memory_mb": 0}  # fmt: skip


def _rows(per_seed: dict[str, dict], args) -> dict:
    """One row per (estimator, mode) from the per-seed nested results."""
    from _seeds import summarise

    budget = f"background {args.background}, {args.samples} gradient evaluations per cell"
    configuration = {
        "ours": f"get_feature_importance, {budget} (6 Gauss–Legendre nodes per path)",
        "shap.GradientExplainer": f"nsamples={args.samples}, {budget}",
        "captum GradientShap": f"n_samples={args.samples}, stdevs=0, {budget}",
        "captum IntegratedGradients": f"n_steps={args.samples} from the background mean",
    }
    names = next(iter(per_seed.values()))["rows"]
    rows = {}
    for name in names:
        estimator = name.split(",")[0]
        runs = {seed: result["rows"][name] for seed, result in per_seed.items()}
        rows[name] = {
            "configuration": configuration.get(estimator, "n_cells='all', defaults"),
            "role": "ours" if estimator == "ours" else "peer",
            "per_seed": runs,
            "summary": summarise(runs),
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--cells", type=int, default=50)
    parser.add_argument("--background", type=int, default=20)
    parser.add_argument("--samples", type=int, default=120)
    add_common_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.cells, args.samples = 1, 5, 40
    (run,) = run_methods([Method("all estimators", "", "ours", run_seed)], args).values()
    rows = _rows(run["per_seed"], args)
    comparisons = [
        compare(rows, f"ours, {mode}", f"{estimator}, {mode}", "seconds_per_cell", False)
        for mode in MODES for estimator in ESTIMATORS[1:]
    ]  # fmt: skip
    classes = next(iter(run["per_seed"].values()))["classes"]
    command = recorded_command("attribution.py", args, "epochs", "cells", "background", "samples",
                               "seeds", "threads", "only", "quick")  # fmt: skip
    payload = {
        "benchmark": "attribution",
        "command": command,
        "seeds": args.seeds,
        "quick": args.quick,
        "environment": environment() | {"cpu_threads": args.threads},
        "data": {
            "set": "Liu et al. 2021 CITE-seq PBMC",
            "features": "1,000 genes + 192 proteins (log1p)",
            "classes": classes,
        },
        "rows": rows,
        "comparisons": comparisons,
    }
    page = [
        f"# Attribution — MultimodalClassifier on Liu CITE-seq (RNA + protein), {classes} classes",
        "",
        f"Seeds {args.seeds}, mean ± sd (a new model, cells and background per seed); "
        f"{args.threads} CPU threads. Every estimator explains the same function (the "
        "classifier's log odds on the log1p inputs), cells, background, gradient budget and "
        "targets; the time is the whole call. Command: "
        f"`{command}`",
        "",
        *rows_table(rows, METRICS, DIGITS),
        "",
        "Time per cell, ours vs each peer (a lead only beyond 2 sd of the difference; "
        "ours / peer < 1: we are faster):",
        "",
        *comparisons_table(comparisons),
    ]
    write_results("attribution", payload, "\n".join(page), args.results_dir)


if __name__ == "__main__":
    main()
