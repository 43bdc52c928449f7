"""``scvi-interpret demo``: the multimodal path on the shipped mosaic PBMC data, as a report.

MultimodalClassifier on RNA-only, ADT-only and paired cells; predictions with uncertainty;
SHAP feature importance per class and modality; latent traversal; archetypes. Writes
``report.html`` (figures embedded) and the tables behind it as CSV.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

MODALITIES = {"rna": "rna", "protein": "adt"}
N_STEPS = 8


def _measured_in(mdata) -> pd.Series:
    """'RNA + ADT', 'RNA only' or 'ADT only' per cell, from ``align_mudata``'s flags."""
    rna, adt = mdata.obs["rna_measured"].to_numpy(), mdata.obs["adt_measured"].to_numpy()
    labels = np.where(rna & adt, "RNA + ADT", np.where(rna, "RNA only", "ADT only"))
    return pd.Series(labels, index=mdata.obs_names, name="measured")


def _quiet() -> None:
    import scvi

    scvi.settings.verbosity = logging.ERROR
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _accuracy_table(table: pd.DataFrame, cells: np.ndarray) -> pd.DataFrame:
    held = table.iloc[cells]
    correct = held["prediction"].astype(str) == held["cell_type"].astype(str)
    grouped = held.assign(correct=correct).groupby("measured")
    summary = pd.DataFrame(
        {
            "held-out cells": grouped.size(),
            "accuracy": grouped["correct"].mean(),
            "mean confidence": grouped["confidence"].mean(),
            "mean normalized entropy": grouped["normalized_entropy"].mean(),
        }
    )
    summary.loc["all"] = [
        len(held),
        correct.mean(),
        held["confidence"].mean(),
        held["normalized_entropy"].mean(),
    ]
    summary["held-out cells"] = summary["held-out cells"].astype(int)
    return summary


def _confusion_figure(table: pd.DataFrame, cells: np.ndarray):
    import matplotlib.pyplot as plt

    held = table.iloc[cells]
    counts = pd.crosstab(held["cell_type"].astype(str), held["prediction"].astype(str))
    labels = sorted(set(counts.index) | set(counts.columns))
    counts = counts.reindex(index=labels, columns=labels, fill_value=0)
    fractions = counts.div(counts.sum(1).clip(lower=1), axis=0)
    fig, ax = plt.subplots(figsize=(5.5, 4.6))
    image = ax.imshow(fractions.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    for (i, j), n in np.ndenumerate(counts.to_numpy()):
        if n:
            color = "white" if fractions.iat[i, j] > 0.5 else "black"
            ax.text(j, i, str(n), ha="center", va="center", fontsize=7, color=color)
    ax.set_xlabel("predicted")
    ax.set_ylabel("annotated")
    fig.colorbar(image, ax=ax, label="fraction of the annotated type")
    fig.tight_layout()
    return fig


def _latent_figure(latent: np.ndarray, table: pd.DataFrame, seed: int):
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    coords = PCA(n_components=2, random_state=seed).fit_transform(latent)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, column in zip(axes, ["cell_type", "measured"], strict=True):
        groups = table[column].astype(str)
        for name in sorted(groups.unique()):
            chosen = (groups == name).to_numpy()
            ax.scatter(*coords[chosen].T, s=4, label=name, alpha=0.7)
        ax.set_title(f"latent space (PCA), coloured by {column}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(markerscale=3, fontsize="small", frameon=False, loc="best")
    fig.tight_layout()
    return fig


def _separating_dims(latent: np.ndarray, labels: pd.Series, names: list[str], n: int):
    """The ``n`` latent dimensions whose class means differ most (between / total variance)."""
    frame = pd.DataFrame(latent, columns=names)
    between = frame.groupby(labels.to_numpy(), observed=True).mean().var()
    return list((between / frame.var()).nlargest(n).index)


def run_demo(
    out: Path,
    max_epochs: int = 100,
    n_latent: int = 10,
    data_dir: str | None = None,
    seed: int = 0,
    n_dims: int = 2,
    n_archetypes: int | None = None,
) -> Path:
    """Train on the mosaic data, explain the classifier, and write the report.

    Parameters
    ----------
    out
        Output folder (created).
    max_epochs
        Training epochs.
    n_latent
        Latent dimensions.
    data_dir
        Data folder; default the copy shipped in the package.
    seed
        Random seed.
    n_dims
        Latent dimensions traversed (those that separate the classes most).
    n_archetypes
        Number of archetypes; default chosen by explained variance.

    Returns
    -------
    Path of ``report.html``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import scvi
    from tqdm.auto import tqdm

    import scvi_interpret as si
    from scvi_interpret._report import HtmlReport

    _quiet()
    scvi.settings.seed = seed
    out.mkdir(parents=True, exist_ok=True)
    report = HtmlReport("scvi-interpret demo: a multimodal classifier on mosaic CITE-seq PBMC")
    bar = tqdm(total=N_STEPS, desc="scvi-interpret demo", unit="step")

    bar.set_postfix_str("loading the shipped mosaic PBMC data")
    mdata = si.model.MultimodalClassifier.align_mudata(si.datasets.pbmc_mosaic(data_dir))
    measured = _measured_in(mdata)
    bar.update()

    bar.set_postfix_str(f"training MultimodalClassifier on {mdata.n_obs} cells")
    si.model.MultimodalClassifier.setup_mudata(
        mdata, labels_key="cell_type", batch_key="batch", modalities=MODALITIES
    )
    model = si.model.MultimodalClassifier(mdata, n_latent=n_latent, n_hidden=64)
    model.train(max_epochs=max_epochs, enable_progress_bar=False)
    bar.update()

    bar.set_postfix_str("predicting")
    table = mdata.obs[["cell_type", "batch"]].join(measured).join(model.get_uncertainty())
    table.to_csv(out / "predictions.csv", index_label="cell")
    held_out = np.sort(model.validation_indices)
    accuracy = _accuracy_table(table, held_out)
    latent = model.get_latent_representation()
    report.section("Data and model")
    report.text(
        f"{mdata.n_obs} PBMC (Hao et al. 2021, the mosaic subset shipped with scmidas): "
        + ", ".join(f"{n} {k}" for k, n in measured.value_counts().items())
        + f"; RNA {mdata['rna'].n_vars} genes, ADT {mdata['adt'].n_vars} antibodies; "
        f"{len(model.class_names)} cell types. MultimodalClassifier: one encoder per modality, "
        f"product of experts over the modalities each cell has, {n_latent} latent dimensions, "
        f"{max_epochs} epochs on 90 % of the cells; the other 10 % (held out) calibrate the "
        f"temperature (T = {model.calibration_['temperature']:.2f}) and score the predictions."
    )
    report.figure(_latent_figure(latent, table, seed), "Posterior means; RNA-only and "
                  "ADT-only cells land with the paired cells of their type.")  # fmt: skip
    report.section("Predictions")
    report.table(accuracy, "Held-out cells, by the modalities each was measured in.")
    report.figure(_confusion_figure(table, held_out), "Held-out cells: annotation vs prediction.")
    bar.update()

    bar.set_postfix_str("SHAP feature importance of every cell's predicted class")
    importance = model.get_feature_importance(seed=seed)
    importance.to_csv(out / "feature_importance.csv", index=False)
    share = pd.DataFrame(importance.attrs["modality_share"]).T
    share.to_csv(out / "modality_share.csv", index_label="class")
    bar.update()

    bar.set_postfix_str("feature importance figures")
    report.section("Feature importance per class and modality")
    report.text(
        "SHAP values (expected gradients) of each cell's predicted class, in log odds of the "
        "calibrated probability, on log1p counts of both modalities; rows average over the "
        "cells predicted as the class. A modality a cell was not measured in contributes "
        "exactly zero. Median additivity error (sum of SHAP values vs output minus baseline): "
        f"{importance.attrs['median_additivity_error']:.1%}. Explained: "
        f"{importance.attrs['sampling']['n_cells']} of {mdata.n_obs} cells, a sample "
        "stratified by cell type and batch, grown until each class's top 20 was stable; "
        "feature_importance.csv has each rank's 95 % interval (rank_ci_low, rank_ci_high)."
    )
    report.figure(si.pl.modality_share(share, show=False, return_fig=True),
                  "Share of each class's attribution from RNA and from protein.")  # fmt: skip
    top = importance[importance["modality_rank"] <= 5]
    arrows = top["direction"].map({"high": "↑", "low": "↓", "none": "·"})
    pivot = top.assign(entry=top["feature"] + " " + arrows + " ("
                       + top["mean_shap"].map("{:+.2f}".format) + ")")  # fmt: skip
    report.table(
        pivot.pivot_table(
            index="target", columns=["modality", "modality_rank"], values="entry", aggfunc="first"
        ),
        "Top five features per class and modality, with their mean SHAP value (log odds). "
        "↑: high values of the feature push toward the class; ↓: low values do (the "
        "feature's absence marks the class); ·: no clear direction.",
    )
    for target in importance["target"].unique():
        fig = si.pl.feature_importance(importance, target, n_top=10, show=False, return_fig=True)
        report.figure(fig, f"{target}: top features per modality.")
    bar.update()

    bar.set_postfix_str("latent traversal")
    dims = _separating_dims(latent, table["prediction"], model._latent_names(), n_dims)
    walk, curves = model.latent_traversal(dims=dims, return_curves=True)
    walk.to_csv(out / "traversal.csv", index=False)
    report.section("Latent traversal")
    report.text(
        f"The {n_dims} latent dimensions that separate the predicted classes most, each moved "
        "from its 5th to its 95th percentile with the others at the median cell; both "
        "modalities decoded."
    )
    for dim in dims:
        for modality in MODALITIES:
            fig = si.pl.traversal_heatmap(
                walk, curves, dim, modality, n_top=12, show=False, return_fig=True
            )
            report.figure(fig, f"{dim}, {modality}: log2 change along the dimension.")
    bar.update()

    bar.set_postfix_str("archetypes")
    archetypes = model.get_archetypes(n_archetypes, seed=seed)
    archetypes.top_features.to_csv(out / "archetypes.csv", index=False)
    archetypes.weights.to_csv(out / "archetype_weights.csv", index_label="cell")
    report.section("Archetypes")
    report.text(
        f"{archetypes.weights.shape[1]} archetypes (chosen by explained variance: "
        + ", ".join(f"{k}: {v:.2f}" for k, v in archetypes.explained_variance.items())
        + "). Left: features that define each archetype against the average cell; right: "
        "the mean weight of each cell type's cells on each archetype."
    )
    for modality in MODALITIES:
        fig = si.pl.archetypes(archetypes, modality=modality, show=False, return_fig=True)
        report.figure(fig, f"Archetypes, {modality}.")
    bar.update()

    bar.set_postfix_str("writing report.html")
    path = report.write(out / "report.html")
    summary = [f"held-out accuracy: {accuracy.loc['all', 'accuracy']:.3f}"]
    summary += [
        f"  {group}: {row['accuracy']:.3f} ({int(row['held-out cells'])} cells)"
        for group, row in accuracy.drop(index="all").iterrows()
    ]
    summary += ["protein share of the attribution per class:"]
    summary += [f"  {c}: {s:.2f}" for c, s in share["protein"].items()]
    (out / "summary.txt").write_text("\n".join(summary) + "\n")
    bar.update()
    bar.close()
    print("\n".join(summary))
    print(f"\nReport: {path.resolve()}")
    return path
