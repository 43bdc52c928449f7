"""Package a trained reference for scvi-hub (Hugging Face), the way scvi-tools shares models."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ._cells import counts_fields


class HubMixin:
    """``to_hub_model``: a saved model with scvi-hub metadata and a model card."""

    def to_hub_model(
        self,
        dir_path: str | Path,
        license_info: str = "cc-by-4.0",
        description: str | None = None,
        data_modalities: Sequence[str] | None = None,
        tissues: Sequence[str] = (),
        training_data_url: str | None = None,
        metrics: dict | None = None,
        save_anndata: bool = False,
        overwrite: bool = False,
    ):
        """Save the model to ``dir_path`` as an :class:`scvi.hub.HubModel`, ready to share.

        Writes the model (a file that loads without running code, see :meth:`load`), the
        scvi-hub metadata (``_scvi_required_metadata.json``, with this package as the model's
        module so that ``HubModel.load_model`` finds the class) and a model card
        (``README.md``: training data, setup arguments, genes, hyperparameters, metrics).
        Push it with ``hub_model.push_to_huggingface_hub(repo_name, repo_token)``; others get
        it back with ``HubModel.pull_from_huggingface_hub(repo_name)`` and
        ``hub_model.load_model(adata=query)``. Nothing is uploaded here.

        Parameters
        ----------
        dir_path
            Folder to write (created).
        license_info
            License of the model, as on Hugging Face.
        description
            Free text for the card (what the reference is, how it was trained).
        data_modalities
            Modalities of the training data (default: the model's).
        tissues
            Tissues of the training data.
        training_data_url
            Where the training data can be downloaded (a CELLxGENE URL for large data).
        metrics
            Performance to report on the card (written to ``metrics.json``), e.g.
            ``{"query_accuracy": 0.79}``.
        save_anndata
            Also save the training data (small data sets only).
        overwrite
            Replace an existing folder's files.

        Returns
        -------
        :class:`scvi.hub.HubModel`

        Examples
        --------
        >>> from scvi.hub import HubModel
        >>> hub_model = model.to_hub_model("pbmc_reference", description="Liu CITE-seq B1–B2")
        >>> HubModel("pbmc_reference").load_model(adata=adata)  # as after a pull
        """
        import anndata
        from scvi.hub import HubMetadata, HubModel

        folder = Path(dir_path)
        self.save(str(folder), save_anndata=save_anndata, overwrite=overwrite)
        if metrics is not None:
            (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
        # what HubMetadata.from_dir would read back from the file, taken from the model
        metadata = HubMetadata(
            scvi_version=self.registry_["scvi_version"],
            anndata_version=anndata.__version__,
            model_cls_name=self.registry_["model_name"],
            training_data_url=training_data_url,
            model_parent_module="scvi_interpret.model",
        )
        modalities = list(data_modalities or getattr(self, "modalities", None) or ["rna"])
        card = _model_card(self, license_info, description, modalities, list(tissues),
                           training_data_url, metrics)  # fmt: skip
        hub_model = HubModel(str(folder), metadata=metadata, model_card=card)
        hub_model.save(overwrite=overwrite)
        return hub_model


def _model_card(model, license_info, description, modalities, tissues, data_url, metrics):
    """A Hugging Face model card for one of our models.

    scvi-hub's ``HubModelCardHelper`` only writes cards for scvi-tools' own model classes.
    """
    import scvi
    from huggingface_hub import ModelCard, ModelCardData

    import scvi_interpret

    name = type(model).__name__
    registry = model.registry_
    tags = ["biology", "genomics", "single-cell", "scvi-interpret", f"model_cls_name:{name}",
            f"scvi_version:{scvi.__version__}"]  # fmt: skip
    tags += [f"modality:{m}" for m in modalities] + [f"tissue:{t}" for t in tissues]
    header = ModelCardData(license=license_info, library_name="scvi-tools", tags=tags).to_yaml()
    features = {key: len(names) for key, _, names in counts_fields(registry)}
    parameters = {k: v for k, v in model.init_params_.get("non_kwargs", {}).items()
                  if isinstance(v, str | int | float | bool | type(None))}  # fmt: skip
    lines = [
        "---", header, "---", "", f"# {name} (scvi-interpret {scvi_interpret.__version__})", "",
        description or f"{name} trained with scvi-interpret.", "",
        "Load it with `scvi.hub.HubModel.pull_from_huggingface_hub(repo)` and "
        "`hub_model.load_model(adata=query)`; the model file holds only tensors and plain "
        "containers (it loads with `torch.load(weights_only=True)`).", "",
        "## Training data", "",
        f"- cells: {model.summary_stats.get('n_cells', 'n/a')}; features per input: {features}",
        f"- setup arguments: `{json.dumps(registry.get('setup_args', {}), default=str)}`",
        f"- training data: {data_url or 'not linked'}",
        "", "## Hyperparameters", "", f"`{json.dumps(parameters)}`",
    ]  # fmt: skip
    if hasattr(model, "program_names"):
        lines += ["", f"## Gene programs ({len(model.program_names)})", "",
                  ", ".join(model.program_names[:50])]  # fmt: skip
    if metrics:
        lines += ["", "## Metrics", ""] + [f"- {k}: {v}" for k, v in metrics.items()]
    return ModelCard("\n".join(lines) + "\n")
