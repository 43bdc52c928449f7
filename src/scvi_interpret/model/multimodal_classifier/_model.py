"""MultimodalClassifier: a multi-task VAE and cell-type classifier over MuData."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence

import mudata as md
import numpy as np
import pandas as pd
import torch
from scipy.special import softmax
from scipy.stats import entropy as scipy_entropy
from scvi import REGISTRY_KEYS
from scvi.data import AnnDataManager
from scvi.data.fields import (
    MuDataCategoricalObsField,
    MuDataLabelsWithUnlabeledObsField,
    MuDataLayerField,
)
from scvi.model.base import ArchesMixin, BaseModelClass, UnsupervisedTrainingMixin, VAEMixin
from scvi.model.base._archesmixin import _get_loaded_data
from scvi.utils import setup_anndata_dsp

from scvi_interpret.errors import (
    FeatureMismatchError,
    InvalidArgumentError,
    InvalidDataError,
    ScviInterpretWarning,
    UnknownNameError,
)
from scvi_interpret.model.base import (
    CheckedPersistenceMixin,
    check_max_epochs,
    keep_query_registry,
    query_plan_kwargs,
    registered_statistics,
    unchanged_on_failure,
)
from scvi_interpret.model.base._hub import HubMixin
from scvi_interpret.model.base._hyperparameters import check_hyperparameters
from scvi_interpret.model.base._safe_files import reference_weights_follow, safe_model_files
from scvi_interpret.model.base._store import store_array, store_obs
from scvi_interpret.model.base._training_guard import (
    check_enough_cells,
    check_plan_kwargs,
    train_keeping_interrupts,
)
from scvi_interpret.model.base._validation import check_aligned
from scvi_interpret.tl import expected_calibration_error, fit_temperature

from ._attribution import MultimodalInterpretabilityMixin
from ._module import Likelihood, MultimodalVAE, modality_key
from ._mudata import align_mudata, check_classes, check_mudata, pad_query
from ._training_plan import ClassifierTrainingPlan

logger = logging.getLogger(__name__)
# a query missing more than this share of a modality's features gets a warning
MISSING_WARNING_SHARE = 0.1

DEFAULT_LIKELIHOODS = {"atac": "poisson"}


def default_likelihood(modality: str, statistics: dict | None) -> Likelihood:
    """``"bernoulli"`` for binary counts (largest 1), else Poisson for ``"atac"``, else NB."""
    if statistics is not None and statistics.get("max_count") == 1:
        return "bernoulli"
    return DEFAULT_LIKELIHOODS.get(modality, "nb")


class MultimodalClassifier(
    CheckedPersistenceMixin,
    HubMixin,
    MultimodalInterpretabilityMixin,
    ArchesMixin,
    VAEMixin,
    UnsupervisedTrainingMixin,
    BaseModelClass,
):
    """Cell-type classifier and multimodal VAE over a MuData with any set of modalities.

    One encoder per modality (RNA, protein, ATAC, …) proposes a Gaussian over a shared latent
    space; the joint posterior is their product with the prior, over the modalities each cell
    has, so cells measured in only some modalities (a mosaic) land in the same space. One
    decoder per modality reconstructs its counts (negative binomial for RNA and protein,
    Poisson for ATAC by default), with the batch given to encoders and decoders. A classifier
    on the latent mean is trained jointly with the reconstruction; cells labelled
    ``unlabeled_category`` train the VAE only (semi-supervised). After training, a temperature
    fitted on held-out labelled cells calibrates the probabilities (:meth:`calibrate`).

    Parameters
    ----------
    mdata
        MuData registered with :meth:`setup_mudata`.
    n_latent
        Dimension of the joint latent space.
    n_hidden
        Width of hidden layers.
    n_layers
        Hidden layers of each encoder and decoder.
    dropout_rate
        Dropout in encoders and the classifier.
    modality_dropout
        Share of multi-modality cells whose encoders see only some of their modalities in a
        training step; makes single-modality cells (and queries with fewer modalities) land
        where their fully measured neighbours do.
    classification_ratio
        Weight of the classification loss relative to the ELBO.
    likelihoods
        Modality name -> ``"nb"``, ``"poisson"`` or ``"bernoulli"``. Default by data type:
        ``"bernoulli"`` for binary data (largest count 1, e.g. binarised ATAC peaks, as
        PeakVI), else ``"poisson"`` for a modality named ``"atac"`` (fragment counts, as
        PoissonVI), else ``"nb"``.

    Examples
    --------
    >>> mdata = si.datasets.pbmc_citeseq()
    >>> si.model.MultimodalClassifier.setup_mudata(
    ...     mdata, labels_key="cell_type", batch_key="batch",
    ...     modalities={"rna": "rna", "protein": "prot"})
    >>> model = si.model.MultimodalClassifier(mdata)
    >>> model.train(max_epochs=50)
    >>> probabilities = model.predict(soft=True)  # cells × classes, calibrated
    >>> labels = model.predict(unknown_threshold=0.5)
    """

    _module_cls = MultimodalVAE
    _training_plan_cls = ClassifierTrainingPlan

    def __init__(
        self,
        mdata: md.MuData | None = None,
        n_latent: int = 20,
        n_hidden: int = 128,
        n_layers: int = 1,
        dropout_rate: float = 0.1,
        modality_dropout: float = 0.3,
        classification_ratio: float = 50.0,
        likelihoods: Mapping[str, Likelihood] | None = None,
        registry: dict | None = None,
    ):
        check_hyperparameters(
            "MultimodalClassifier", n_latent=n_latent, n_hidden=n_hidden, n_layers=n_layers,
            dropout_rate=dropout_rate, modality_dropout=modality_dropout,
            classification_ratio=classification_ratio,
        )  # fmt: skip
        super().__init__(mdata, registry)
        check_classes(self.class_names, self.unlabeled_category)
        modalities = self.modalities
        likelihoods = dict(likelihoods or {})
        unknown = set(likelihoods) - set(modalities)
        if unknown:
            raise UnknownNameError(
                f"likelihoods names {sorted(unknown)}, not modalities of the model "
                f"({list(modalities)})."
            )
        statistics = {name: registered_statistics(self, modality_key(name)) for name in modalities}
        likelihoods = {  # resolved here, so a saved or query model keeps them
            name: likelihoods.get(name) or default_likelihood(name, statistics[name])
            for name in modalities
        }
        self.module = self._module_cls(
            n_features={name: len(self._features(name)) for name in modalities},
            likelihoods=likelihoods,
            n_batch=self.summary_stats.n_batch,
            n_labels=len(self.class_names),
            n_latent=n_latent,
            n_hidden=n_hidden,
            n_layers=n_layers,
            dropout_rate=dropout_rate,
            modality_dropout=modality_dropout,
            classification_ratio=classification_ratio,
            log_frequencies={
                name: values["log_frequencies"]
                for name, values in statistics.items()
                if values is not None
            },
        )
        self.calibration_: dict | None = None
        self._model_summary_string = (
            f"MultimodalClassifier: modalities {likelihoods}, n_latent {n_latent}, "
            f"{len(self.class_names)} classes, n_batch {self.summary_stats.n_batch}"
        )
        self.init_params_ = self._get_init_params(locals())
        self.init_params_["non_kwargs"].pop("mdata", None)  # None when built from a registry

    # ------------------------------------------------------------------ setup
    @classmethod
    @setup_anndata_dsp.dedent
    def setup_mudata(
        cls,
        mdata: md.MuData,
        labels_key: str,
        modalities: Mapping[str, str],
        batch_key: str | None = None,
        layers: Mapping[str, str | None] | None = None,
        unlabeled_category: str = "Unknown",
        **kwargs,
    ) -> None:
        """Register a MuData: which modality is which, where the counts are, labels, batch.

        Every modality must have every cell of ``mdata`` in the same order; a mosaic (cells
        measured in different modalities) is first aligned with :meth:`align_mudata`. A cell
        with zero counts in a modality counts as not measured there.

        The checks run first (aligned modalities, raw counts, labels without missing values
        naming at least two classes); on failure nothing is written to ``mdata``.

        Parameters
        ----------
        %(param_mdata)s
        labels_key
            Column of ``mdata.obs`` with the cell types; cells with ``unlabeled_category``
            are unlabelled (they train the VAE, not the classifier).
        modalities
            Modality name -> key in ``mdata.mod``, e.g. ``{"rna": "rna", "protein": "prot",
            "atac": "atac"}``. Any one or several.
        %(param_batch_key)s
        layers
            Modality name -> layer holding the counts; modalities not named use ``.X``.
        unlabeled_category
            Label of unlabelled cells; also what :meth:`predict` writes for cells under
            ``unknown_threshold``.
        **kwargs
            Passed to :class:`~scvi.data.AnnDataManager` registration (used by
            :meth:`load_query_data`).
        """
        # first, before other locals exist: scvi-tools records every local as a setup argument
        setup_method_args = cls._get_setup_method_args(**locals())
        modalities, layers = dict(modalities), dict(layers or {})
        # a query may lack the labels column (scvi-tools fills it with the unlabelled category)
        obs_keys = {"batch_key": batch_key}
        if "source_registry" not in kwargs:
            obs_keys["labels_key"] = labels_key
        check_mudata(mdata, modalities, layers, obs_keys)
        if "source_registry" not in kwargs:
            labels = set(map(str, pd.unique(mdata.obs[labels_key].dropna())))  # not per cell
            check_classes(sorted(labels - {unlabeled_category}), unlabeled_category)
        fields = [
            MuDataLayerField(
                modality_key(name),
                layers.get(name),
                mod_key=key,
                is_count_data=True,
                mod_required=True,
            )
            for name, key in modalities.items()
        ]
        fields += [
            MuDataCategoricalObsField(REGISTRY_KEYS.BATCH_KEY, batch_key),
            MuDataLabelsWithUnlabeledObsField(
                REGISTRY_KEYS.LABELS_KEY, labels_key, unlabeled_category
            ),
        ]
        manager = AnnDataManager(fields=fields, setup_method_args=setup_method_args)
        with unchanged_on_failure(mdata):
            manager.register_fields(mdata, **kwargs)
        cls.register_manager(manager)

    @classmethod
    def setup_anndata(cls, adata, *args, **kwargs):
        """Not available: the model reads a MuData; use :meth:`setup_mudata`.

        An AnnData of RNA alone can be wrapped: ``mudata.MuData({"rna": adata})``.
        """
        raise NotImplementedError(
            "MultimodalClassifier reads a MuData: call setup_mudata(mdata, labels_key=..., "
            "modalities={'rna': 'rna', ...}). Wrap an AnnData with mudata.MuData({'rna': adata})."
        )

    align_mudata = staticmethod(align_mudata)

    @property
    def modalities(self) -> dict[str, str]:
        """Modality name -> key in the MuData (or measurement in a SOMA store), as registered."""
        return dict(self.registry_["setup_args"]["modalities"])

    def _features(self, modality: str) -> list[str]:
        """Feature names of a modality, in the order the model reads them."""
        field = self.registry_["field_registries"][modality_key(modality)]
        return list(np.asarray(field["state_registry"]["column_names"]).astype(str))

    def get_var_names(self, legacy_mudata_format: bool = False) -> dict:
        """Feature names per modality key, as saved with the model (also without a MuData)."""
        if self.adata is not None:
            return super().get_var_names(legacy_mudata_format=legacy_mudata_format)
        return {key: np.asarray(self._features(name), dtype=object)
                for name, key in self.modalities.items()}  # fmt: skip

    @property
    def class_names(self) -> list[str]:
        """Class names, in the order of the probability columns."""
        registry = self.get_state_registry(REGISTRY_KEYS.LABELS_KEY)
        mapping = list(registry.categorical_mapping)
        return [c for c in mapping if c != registry.unlabeled_category]

    @property
    def unlabeled_category(self) -> str:
        """Label of unlabelled cells."""
        return self.get_state_registry(REGISTRY_KEYS.LABELS_KEY).unlabeled_category

    # -------------------------------------------------------------- training
    def train(
        self,
        max_epochs: int | None = None,
        batch_size: int = 128,
        train_size: float = 0.9,
        calibrate: bool = True,
        plan_kwargs: dict | None = None,
        datamodule=None,
        **kwargs,
    ):
        """Train VAE and classifier jointly, then calibrate on the held-out labelled cells.

        Parameters
        ----------
        max_epochs
            Passes through the data; default from the data size as in scvi-tools.
        batch_size
            Minibatch size.
        train_size
            Share of cells trained on; the rest (``model.validation_indices``) is never
            trained on and calibrates the probabilities.
        calibrate
            Fit the temperature on the held-out labelled cells after training
            (:meth:`calibrate`). Skipped, with a log message, when there are none (e.g. an
            unlabelled query, which keeps the reference's temperature).
        plan_kwargs
            Keyword arguments for :class:`ClassifierTrainingPlan`, scvi-tools'
            :class:`~scvi.train.SemiSupervisedTrainingPlan` (``lr``, ``weight_decay``,
            ``classification_ratio`` (default the model's), ``n_epochs_kl_warmup``…).
        datamodule
            Cells on disk (:class:`~scvi_interpret.data.SomaDataModule`), with the model
            built from its registry; its ``train_size`` holds out the calibration cells.
        **kwargs
            Passed to :meth:`scvi.model.base.UnsupervisedTrainingMixin.train`
            (``accelerator``, ``devices``, ``strategy``…). ``strategy="ddp"`` becomes
            ``"ddp_find_unused_parameters_true"``: a minibatch may leave an encoder unused.
        """
        check_max_epochs(max_epochs)
        if kwargs.get("strategy") == "ddp":
            # a minibatch may leave an encoder unused (modality dropout, cells lacking a
            # modality): DDP must then look for unused parameters
            kwargs["strategy"] = "ddp_find_unused_parameters_true"
            logger.info("strategy='ddp' -> 'ddp_find_unused_parameters_true' (see the docs).")
        if datamodule is not None:
            train_size = getattr(datamodule, "train_size", train_size)
        if calibrate and train_size >= 1.0 and not self.module.is_query:
            raise InvalidArgumentError(
                "Calibration needs held-out labelled cells: keep train_size < 1 (default 0.9) "
                "or pass calibrate=False."
            )
        check_plan_kwargs(plan_kwargs, self._training_plan_cls, self.module)
        if datamodule is None:
            check_enough_cells(self.adata.n_obs, train_size)
            kwargs = self._same_split(kwargs)
        self.module.train()  # load_query_data leaves it in eval mode (scvi-tools' ArchesMixin)
        result = train_keeping_interrupts(
            self,
            super().train,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_size=None if datamodule is not None else train_size,
            plan_kwargs=self._plan_kwargs(plan_kwargs),
            datamodule=datamodule,
            **kwargs,
        )
        held_out = self.validation_indices
        if calibrate and held_out is not None and len(held_out):
            cells = self._cells(datamodule=datamodule)
            labelled = held_out[cells.labels()[held_out] < len(self.class_names)]
            if len(labelled):
                self.calibrate(indices=labelled, datamodule=datamodule)
            else:
                logger.info("No labelled held-out cells: the temperature stays %.3g.",
                            float(self.module.temperature))  # fmt: skip
        return result

    def _plan_kwargs(self, plan_kwargs: dict | None) -> dict:
        """Arguments of :class:`ClassifierTrainingPlan`: the model's classes and ratio."""
        plan_kwargs = query_plan_kwargs(self.module, plan_kwargs)
        plan_kwargs.setdefault("n_classes", self.module.n_labels)
        plan_kwargs.setdefault("classification_ratio", self.module.classification_ratio)
        return plan_kwargs

    def _same_split(self, kwargs: dict) -> dict:
        """Train again on the split of the first training (the calibration cells stay unseen).

        The first ``train()`` draws the split (saved with the model); later calls reuse it
        unless ``datasplitter_kwargs={"external_indexing": …}`` says otherwise.
        """
        splitter = dict(kwargs.get("datasplitter_kwargs") or {})
        drawn = self.is_trained_ and self.train_indices is not None
        if not drawn or "external_indexing" in splitter:
            return kwargs  # first training (a query model starts untrained): draw a split
        n_split = sum(
            len(i) for i in (self.train_indices, self.validation_indices) if i is not None
        )
        if n_split > self.adata.n_obs:
            return kwargs
        splitter["external_indexing"] = [
            np.asarray([] if indices is None else indices, dtype=int)
            for indices in (self.train_indices, self.validation_indices, self.test_indices)
        ]
        logger.info("Training again on the first training's split (%d cells held out).",
                    len(splitter["external_indexing"][1]))  # fmt: skip
        return {**kwargs, "datasplitter_kwargs": splitter}

    @torch.inference_mode()
    def calibrate(
        self,
        adata: md.MuData | None = None,
        indices: Sequence[int] | None = None,
        datamodule=None,
    ) -> dict:
        """Fit the temperature of the class probabilities on labelled cells not trained on.

        Parameters
        ----------
        adata
            Cells with labels; default the training MuData.
        indices
            Cells to use (labelled, held out from training); default all labelled cells.
        datamodule
            Cells on disk instead of ``adata``.

        Returns
        -------
        ``{"temperature", "ece_before", "ece_after", "n_cells"}``, also kept in
        ``model.calibration_``; the temperature is saved with the model.
        """
        data = self._cells(adata, datamodule)
        codes = data.labels()
        cells = np.arange(data.n_obs) if indices is None else np.asarray(indices)
        cells = cells[codes[cells] < len(self.class_names)]
        if len(cells) == 0:
            raise InvalidDataError(
                "No labelled cells to calibrate on: every chosen cell has the unlabelled "
                f"category {self.unlabeled_category!r}."
            )
        logits = self._logits(data, cells, calibrated=False)
        with torch.inference_mode(False):
            temperature = fit_temperature(logits, codes[cells])
        before = expected_calibration_error(softmax(logits, axis=1), codes[cells])
        after = expected_calibration_error(softmax(logits / temperature, axis=1), codes[cells])
        self.module.temperature.fill_(temperature)
        self.calibration_ = {"temperature": temperature, "ece_before": before,
                             "ece_after": after, "n_cells": len(cells)}  # fmt: skip
        return self.calibration_

    # ------------------------------------------------------------ prediction
    @torch.inference_mode()
    def _logits(self, cells, indices, calibrated: bool, batch_size: int = 512) -> np.ndarray:
        """Class logits of the chosen cells (positions), shape (n_cells, n_classes)."""
        self.module.eval()
        parts = []
        for tensors in cells.batches(indices, batch_size):
            inputs = self.module._get_inference_input(tensors)
            outputs = self.module.inference(**inputs)
            parts.append(self.module.classify(outputs["qz"].loc, calibrated).cpu().numpy())
        return np.concatenate(parts)

    def predict(
        self,
        adata: md.MuData | None = None,
        indices: Sequence[int] | None = None,
        soft: bool = False,
        unknown_threshold: float | None = None,
        calibrated: bool = True,
        batch_size: int = 512,
        key_added: str | None = None,
        datamodule=None,
    ) -> pd.Series | pd.DataFrame:
        """Predicted cell types, or their (calibrated) probabilities.

        Parameters
        ----------
        adata
            Cells to classify (set up like the training data); default the training data.
        indices
            Cells of ``adata``; default all.
        soft
            Return probabilities instead of labels.
        unknown_threshold
            Label cells whose highest probability is below this as the unlabelled category
            (``"Unknown"`` by default), for hard labels.
        calibrated
            Use the fitted temperature (:meth:`calibrate`).
        batch_size
            Cells per minibatch.
        key_added
            If given (and ``indices`` is ``None``), write labels to ``obs[key_added]``,
            confidence and entropy to ``obs[key_added + "_confidence"]`` /
            ``obs[key_added + "_entropy"]``, and probabilities to ``obsm[key_added +
            "_probabilities"]`` of ``adata``.
        datamodule
            Cells on disk instead of ``adata`` (a data module with the model's registry, e.g.
            :class:`~scvi_interpret.data.SomaDataModule` built with ``reference=model``), read
            in chunks in order; ``indices`` are positions in it.

        Returns
        -------
        Labels as a categorical Series indexed by cell, or with ``soft`` a DataFrame
        cells × classes whose rows sum to 1.
        """
        if unknown_threshold is not None and not 0 <= unknown_threshold <= 1:
            raise InvalidArgumentError(
                f"unknown_threshold must lie in [0, 1], got {unknown_threshold}."
            )
        if key_added is not None and indices is not None:
            raise InvalidArgumentError(
                "key_added writes one value per cell; it cannot go with indices."
            )
        data = self._cells(adata, datamodule, key_added)
        adata = data.adata
        cells = self._resolve_indices(indices, data.n_obs)
        probabilities = pd.DataFrame(
            softmax(self._logits(data, cells, calibrated, batch_size), axis=1),
            index=data.names(cells),
            columns=self.class_names,
        )
        labels = _hard_labels(probabilities, unknown_threshold, self.unlabeled_category)
        if key_added is not None:
            uncertainty = uncertainty_table(probabilities)
            store_obs(adata, {key_added: labels,
                              f"{key_added}_confidence": uncertainty["confidence"],
                              f"{key_added}_entropy": uncertainty["entropy"]})  # fmt: skip
            store_array(adata, "obsm", f"{key_added}_probabilities", probabilities)
        return probabilities if soft else labels

    def get_uncertainty(
        self,
        adata: md.MuData | None = None,
        indices: Sequence[int] | None = None,
        datamodule=None,
    ) -> pd.DataFrame:
        """Per-cell uncertainty of the calibrated prediction.

        Parameters
        ----------
        adata, indices, datamodule
            As in :meth:`predict`.

        Returns
        -------
        DataFrame indexed by cell with ``prediction``, ``confidence`` (highest probability),
        ``entropy`` (nats) and ``normalized_entropy`` (entropy / log(number of classes),
        in [0, 1]).
        """
        probabilities = self.predict(adata, indices, soft=True, datamodule=datamodule)
        table = uncertainty_table(probabilities)
        table.insert(0, "prediction", _hard_labels(probabilities, None, ""))
        return table

    # ---------------------------------------------------------- query mapping
    @classmethod
    def prepare_query_mudata(cls, mdata: md.MuData, reference_model) -> md.MuData:
        """A query MuData laid out like the reference's: its modalities, features and cells.

        Modalities the query lacks (e.g. no protein panel) become all-zero modalities, which
        the model reads as not measured; features the reference has and the query lacks are
        zero columns (logged); every modality gets every cell.

        Parameters
        ----------
        mdata
            Query MuData, with at least one of the reference's modalities.
        reference_model
            Trained :class:`MultimodalClassifier` or the folder it was saved to.

        Returns
        -------
        A new MuData for :meth:`load_query_data`; ``mdata`` is not changed.
        """
        if isinstance(reference_model, os.PathLike):
            reference_model = os.fspath(reference_model)
        with safe_model_files():
            attr_dict, var_names, _, _ = _get_loaded_data(reference_model)
        setup_args = attr_dict["registry_"]["setup_args"]
        keys = list(setup_args["modalities"].values())
        if not set(keys) & set(mdata.mod):
            raise FeatureMismatchError(
                f"The query has none of the reference's modalities {keys} "
                f"(it has {list(mdata.mod)})."
            )
        reference = {key: pd.Index(var_names[key]) for key in keys}
        for key in set(keys) & set(mdata.mod):
            if not reference[key].isin(mdata.mod[key].var_names).any():
                raise FeatureMismatchError(
                    f"The query's modality {key!r} shares none of the reference's "
                    f"{len(reference[key])} features (reference e.g. "
                    f"{reference[key][:3].tolist()}, query e.g. "
                    f"{mdata.mod[key].var_names[:3].tolist()}): check the feature "
                    "names (gene symbols vs IDs, protein panel names), or leave the modality out "
                    "of the query to encode its cells without it."
                )
        query, missing = pad_query(mdata, reference)
        for key, n_missing in missing.items():
            share = n_missing / max(len(reference[key]), 1)
            if key not in mdata.mod:
                logger.info("Query lacks modality %r: its cells are encoded without it.", key)
            elif share > MISSING_WARNING_SHARE:
                warnings.warn(
                    f"{n_missing} of the reference's {len(reference[key])} features of {key!r} "
                    f"({share:.0%}) are missing in the query and are read as zero counts; the "
                    "query's cells are then encoded from the rest only. Check the feature names.",
                    ScviInterpretWarning,
                    stacklevel=2,
                )
            elif n_missing:
                logger.info("%d feature(s) of %r missing in the query: zero-filled.",
                            n_missing, key)  # fmt: skip
        return query

    @classmethod
    def load_query_data(cls, adata: md.MuData = None, reference_model=None, **kwargs):
        """Map a query MuData onto a trained reference (scArches surgery) to transfer labels.

        The query must be laid out like the reference (:meth:`prepare_query_mudata` does it,
        also for a query that lacks modalities). Only the weights of the query's new batches
        learn in the following :meth:`train`; encoders, decoders and the classifier stay
        frozen, and the reference's temperature is kept unless the query has labelled
        held-out cells.

        Parameters
        ----------
        adata
            Query MuData from :meth:`prepare_query_mudata`; its labels column may be absent
            (all cells unlabelled).
        reference_model
            Trained :class:`MultimodalClassifier` or the folder it was saved to.
        **kwargs
            Passed to :meth:`scvi.model.base.ArchesMixin.load_query_data`.

        Returns
        -------
        A new model for the query, ready to :meth:`train`.
        """
        if isinstance(reference_model, os.PathLike):  # scvi-tools takes a str folder
            reference_model = os.fspath(reference_model)
        if adata is not None and reference_model is not None:
            with safe_model_files():
                attr_dict, var_names, _, _ = _get_loaded_data(reference_model)
            for key in attr_dict["registry_"]["setup_args"]["modalities"].values():
                names = var_names[key]
                if key not in adata.mod or not adata.mod[key].var_names.equals(pd.Index(names)):
                    raise FeatureMismatchError(
                        f"The query's modality {key!r} is missing or has other features than "
                        "the reference's. Call `query = MultimodalClassifier."
                        "prepare_query_mudata(query, reference_model)` first."
                    )
                check_aligned(adata, key, fix="Call `MultimodalClassifier."
                              "prepare_query_mudata(query, reference)`.")  # fmt: skip
        with reference_weights_follow():  # safe model files; start values are overwritten
            model = super().load_query_data(adata=adata, reference_model=reference_model, **kwargs)
        keep_query_registry(model, kwargs.get("registry"))
        model.module.is_query = True
        return model


def _hard_labels(probabilities: pd.DataFrame, threshold: float | None, unknown: str) -> pd.Series:
    labels = probabilities.idxmax(axis=1)
    categories = list(probabilities.columns)
    if threshold is not None:
        labels = labels.where(probabilities.max(axis=1) >= threshold, unknown)
        categories.append(unknown)
    return pd.Series(pd.Categorical(labels, categories=categories), index=probabilities.index)


def uncertainty_table(probabilities: pd.DataFrame) -> pd.DataFrame:
    """Confidence and entropy of each row of a cells × classes probability table."""
    values = probabilities.to_numpy()
    entropy = scipy_entropy(values, axis=1)
    return pd.DataFrame(
        {
            "confidence": values.max(1),
            "entropy": entropy,
            "normalized_entropy": entropy / np.log(max(values.shape[1], 2)),
        },
        index=probabilities.index,
    )
