"""LinearVI: a VAE whose decoder is linear, so each latent factor is a gene loading vector."""

from __future__ import annotations

import inspect
import logging
import numbers
import os
from collections.abc import Iterator
from typing import Literal

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from scvi import REGISTRY_KEYS
from scvi.data import AnnDataManager
from scvi.data.fields import (
    CategoricalJointObsField,
    CategoricalObsField,
    LayerField,
    NumericalJointObsField,
)
from scvi.model.base import (
    ArchesMixin,
    BaseModelClass,
    RNASeqMixin,
    UnsupervisedTrainingMixin,
    VAEMixin,
)
from scvi.module._constants import MODULE_KEYS
from scvi.utils import setup_anndata_dsp

from scvi_interpret.errors import InvalidArgumentError
from scvi_interpret.model.base import (
    CheckedPersistenceMixin,
    InterpretabilityMixin,
    TrainingPlan,
    check_continuous_covariates,
    check_counts,
    check_has_cells,
    check_is_anndata,
    check_key_lists,
    check_max_epochs,
    check_no_empty_cells,
    check_obs_keys,
    check_same_features,
    get_matrix,
    keep_query_registry,
    query_plan_kwargs,
    registered_statistics,
    unchanged_on_failure,
)
from scvi_interpret.model.base._cells import Cells, first_cells
from scvi_interpret.model.base._hub import HubMixin
from scvi_interpret.model.base._hyperparameters import check_hyperparameters
from scvi_interpret.model.base._safe_files import reference_weights_follow, safe_model_files
from scvi_interpret.model.base._store import store_array
from scvi_interpret.model.base._training_guard import (
    check_enough_cells,
    check_plan_kwargs,
    train_keeping_interrupts,
)

from ._module import Dispersion, GeneLikelihood, LinearVAE
from ._pca_start import pca_start_loadings
from ._rotation import joint_varimax_rotation, varimax_rotation

LoadingUnits = Literal["log", "expression", "pearson"]
FactorRotation = Literal["joint_varimax", "varimax"] | None
LoadingsStart = Literal["random", "pca"]
ROTATION_CELLS = 10_000  # cells whose factor values the joint varimax reads (a seeded sample)

logger = logging.getLogger(__name__)


class LinearVI(
    CheckedPersistenceMixin,
    HubMixin,
    InterpretabilityMixin,
    ArchesMixin,
    RNASeqMixin,
    VAEMixin,
    UnsupervisedTrainingMixin,
    BaseModelClass,
):
    """Linearly decoded VAE with batch and covariate terms, and reference mapping.

    A non-linear encoder maps counts to ``n_latent`` factors; a linear decoder maps the
    factors to gene log-rates (LDVAE/scETM idea), so each factor is directly a vector of gene
    loadings (:meth:`get_loadings`). Batch, categorical and continuous covariates enter the
    decoder through their own additive terms, so the loadings stay a pure factor → gene map.
    Unlike scvi-tools' ``LinearSCVI``, it takes covariates and maps query data onto a trained
    reference (:meth:`load_query_data`). :meth:`get_feature_importance` explains each factor
    (its posterior mean) by SHAP values of the input genes.

    Parameters
    ----------
    adata
        AnnData registered with :meth:`setup_anndata` (in memory or backed on disk); ``None``
        with ``registry``.
    registry
        For data not in memory: the registry of a data module
        (:class:`~scvi_interpret.data.SomaDataModule`), then ``train(datamodule=…)``.
    n_latent
        Number of latent factors.
    n_hidden
        Width of the encoder's hidden layers.
    n_layers
        Number of hidden layers of the encoder.
    dropout_rate
        Dropout in the encoder.
    gene_likelihood
        ``"nb"`` (negative binomial, default), ``"zinb"`` (zero-inflated NB) or ``"poisson"``.
    dispersion
        ``"gene"`` or ``"gene-batch"`` (NB/ZINB only).
    encode_covariates
        Give the encoder the batch and continuous covariates. Keep ``True`` for reference
        mapping: the query's new batches then adapt the encoder too.
    factor_rotation
        How the reported factors are turned, after training. ``"joint_varimax"`` (default):
        the varimax rotation of the loadings and of the training cells' factor values
        together (each gene on few factors, each factor on few genes, each cell high on few
        factors; read from a seeded sample of at most 10,000 training cells, so the cost
        does not grow with the data); ``"varimax"``: of the loadings alone (no pass over
        the cells); ``None``: the encoder's own coordinates. The prior is rotation
        invariant, so all three are the same model: latents and loadings are rotated
        together and decode to exactly the same expression (:doc:`user guide
        </user_guide/linear_vi>`). A query model keeps its reference's rotation.
    loadings_prior_sd
        Standard deviation of a normal prior on each loading (log-fold change per unit of a
        factor); ``None``: a flat prior (the loadings of version 0.1). The prior shrinks
        loadings the data hardly determine, so factors vary less between seeds; its weight
        falls as 1 / (training cells), so on large data it fades away.
    loadings_start
        Where the loadings start when the model is first trained. ``"random"`` (default):
        PyTorch's random start; ``"pca"``: on the top principal axes of the log-normalised
        counts of a seeded sample of at most 10,000 training cells (read like the joint
        varimax's cells, so the cost does not grow with the data), each at 0.3 of its sd.
        Factors then vary much less between seeds (user guide, *Where the loadings start*).
    datamodule
        Not used; scvi-tools' ``load(..., datamodule=…)`` passes it for models trained with its
        own ``TileDBDataModule``.

    Examples
    --------
    >>> adata = si.datasets.pancreas()
    >>> si.model.LinearVI.setup_anndata(adata, layer="counts")
    >>> model = si.model.LinearVI(adata, n_latent=20)
    >>> model.train(max_epochs=100)
    >>> loadings = model.get_loadings()  # genes × factors
    >>> latent = model.get_latent_representation(key_added="X_linearvi")
    """

    _module_cls = LinearVAE
    _training_plan_cls = TrainingPlan
    _center_loadings = True
    _factor_rotation: FactorRotation = None  # ProgramVI: programs are not rotated
    _loadings_start: LoadingsStart = "random"  # ProgramVI: masked loadings start at random

    def __init__(
        self,
        adata: AnnData | None = None,
        registry: dict | None = None,
        n_latent: int = 10,
        n_hidden: int = 128,
        n_layers: int = 1,
        dropout_rate: float = 0.1,
        gene_likelihood: GeneLikelihood = "nb",
        dispersion: Dispersion = "gene",
        encode_covariates: bool = True,
        factor_rotation: FactorRotation = "joint_varimax",
        loadings_prior_sd: float | None = 0.15,
        loadings_start: LoadingsStart = "random",
        datamodule=None,
    ):
        if factor_rotation not in ("joint_varimax", "varimax", None):
            raise InvalidArgumentError(
                "factor_rotation must be 'joint_varimax', 'varimax' or None, not "
                f"{factor_rotation!r}."
            )
        if loadings_start not in ("random", "pca"):
            raise InvalidArgumentError(
                f"loadings_start must be 'random' or 'pca', not {loadings_start!r}."
            )
        check_hyperparameters(
            type(self).__name__, n_latent=n_latent, n_hidden=n_hidden, n_layers=n_layers,
            dropout_rate=dropout_rate,
        )  # fmt: skip
        super().__init__(adata, registry)
        self._build_module(
            n_latent=n_latent,
            n_hidden=n_hidden,
            n_layers=n_layers,
            dropout_rate=dropout_rate,
            gene_likelihood=gene_likelihood,
            dispersion=dispersion,
            encode_covariates=encode_covariates,
            loadings_prior_sd=loadings_prior_sd,
        )
        self._model_summary_string = (
            f"LinearVI model: n_latent: {n_latent}, n_hidden: {n_hidden}, n_layers: {n_layers}, "
            f"dropout_rate: {dropout_rate}, gene_likelihood: {gene_likelihood}, "
            f"dispersion: {dispersion}, encode_covariates: {encode_covariates}, "
            f"factor_rotation: {factor_rotation}, loadings_prior_sd: {loadings_prior_sd}, "
            f"loadings_start: {loadings_start}"
        )
        self._factor_rotation = factor_rotation
        self._loadings_start = loadings_start
        self.init_params_ = self._get_init_params(locals())

    def _build_module(self, **module_kwargs) -> None:
        """Create ``self.module`` from the registry's summary statistics and covariates."""
        cat_covs = self.registry_["field_registries"].get(REGISTRY_KEYS.CAT_COVS_KEY, {})
        n_cats_per_cov = cat_covs.get("state_registry", {}).get("n_cats_per_key")
        statistics = registered_statistics(self, REGISTRY_KEYS.X_KEY)
        self.module = self._module_cls(
            n_input=self.summary_stats.n_vars,
            n_batch=self.summary_stats.n_batch,
            n_cats_per_cov=n_cats_per_cov,
            n_continuous_cov=self.summary_stats.get("n_extra_continuous_covs", 0),
            gene_log_frequencies=None if statistics is None else statistics["log_frequencies"],
            **module_kwargs,
        )
        return statistics

    @property
    def feature_names(self) -> pd.Index:
        """Names of the genes the model reads, in order (from the registry)."""
        names = self.registry_["field_registries"][REGISTRY_KEYS.X_KEY]["state_registry"]
        return pd.Index(np.asarray(names["column_names"]).astype(str))

    @property
    def factor_names(self) -> list[str]:
        """Names of the latent factors: ``factor_0`` … ``factor_{n_latent-1}``."""
        return [f"factor_{i}" for i in range(self.module.n_latent)]

    # latent traversal and archetypes: the factors, decoded at the most frequent batch
    def _latent_names(self) -> list[str]:
        return self.factor_names

    def _rotation(self) -> torch.Tensor | None:
        """Encoder coordinates → reported factors, (n_latent, n_latent); ``None``: identity."""
        rotation = self.module.factor_rotation  # a buffer of every LinearVAE (and ProgramVAE)
        identity = torch.eye(len(rotation), device=rotation.device)
        return None if torch.equal(rotation, identity) else rotation

    def _rotate_latent(self, latent):
        rotation = self._rotation()
        if rotation is None:
            return latent
        rotation = rotation.double().cpu().numpy()
        if isinstance(latent, tuple):  # return_dist: means and (marginal) variances
            mean, variance = latent
            return (mean @ rotation).astype(mean.dtype), (variance @ rotation**2).astype(
                variance.dtype
            )
        return (latent @ rotation).astype(latent.dtype)

    def _set_factor_rotation(self, datamodule=None) -> None:
        """Set the factor rotation from the trained model; stored with the module (saved).

        ``"varimax"``: of the centred loadings; ``"joint_varimax"``: of those and of the
        centred factor values (posterior means, encoder coordinates) of a seeded sample of
        at most ``ROTATION_CELLS`` cells of the training data (``datamodule`` if training
        read one).
        """
        rotation = np.eye(self.module.n_latent)
        if self._factor_rotation is not None:
            weight = self.module.decoder.loadings().detach().double().cpu().numpy()
            centred = weight - weight.mean(axis=0)
            if self._factor_rotation == "varimax":
                rotation = varimax_rotation(centred)
            else:
                scores = self._rotation_sample_latent(datamodule)
                rotation = joint_varimax_rotation(centred, scores - scores.mean(axis=0))
        buffer = self.module.factor_rotation  # written once, after every read has succeeded
        buffer.copy_(torch.as_tensor(rotation).to(dtype=buffer.dtype, device=buffer.device))

    def _rotation_sample_latent(self, datamodule=None) -> np.ndarray:
        """Posterior means (encoder coordinates) of the cells of :meth:`_sample_batches`.

        Read through the reported factors (the
        rotation of an earlier ``train()``) and turned back, so that nothing changes until
        the new rotation is known. Returns shape (n_sampled, n_latent), float64.
        """
        latent = self.get_latent_representation(dataloader=self._sample_batches(datamodule))
        current = self.module.factor_rotation.double().cpu().numpy()
        return latent.astype(np.float64) @ current.T  # reported factors → encoder coordinates

    def _sample_batches(self, datamodule=None) -> Iterator[dict[str, torch.Tensor]]:
        """Minibatches of the training cells the joint varimax and the PCA start read.

        A uniform sample without replacement (seed 0) of at most ``ROTATION_CELLS`` cells of
        the registered AnnData or of a :class:`~scvi_interpret.data.SomaDataModule`; from a
        data module that cannot read chosen cells (scvi-tools' ``TileDBDataModule``), the
        first cells of its (shuffled) inference loader.
        """
        if datamodule is None or _reads_positions(datamodule):
            cells = Cells(self, self.adata if datamodule is None else None, datamodule)
            return cells.batches(_sample_positions(cells.n_obs))
        if getattr(datamodule, "train_dataset", None) is None:
            # scvi-tools' TileDBDataModule builds its stream in setup(), which Lightning runs
            # only inside fit (the PCA start reads before it); each DDP rank reads the same
            # first cells here
            datamodule.setup("fit")
        return first_cells(datamodule.inference_dataloader(), ROTATION_CELLS)

    def _pca_start(self, datamodule=None) -> np.ndarray:
        """Start loadings: :func:`pca_start_loadings` of the counts of :meth:`_sample_batches`.

        Returns shape (n_genes, n_latent); ``NaN`` columns keep their random start.
        """
        batches = self._sample_batches(datamodule)
        counts = (tensors[REGISTRY_KEYS.X_KEY] for tensors in batches)
        return pca_start_loadings(counts, self.module.n_latent)

    def _start_loadings_at_pca(self, datamodule=None) -> None:
        """Copy :meth:`_pca_start` into the decoder's loadings (written after the read)."""
        start = torch.as_tensor(self._pca_start(datamodule))
        weight = self.module.decoder.factor_loadings.weight
        with torch.no_grad():
            known = ~torch.isnan(start)
            weight[known] = start[known].to(dtype=weight.dtype, device=weight.device)

    def _decode(self, z: torch.Tensor, reference: dict) -> dict[str, torch.Tensor]:
        rotation = self._rotation()
        if rotation is not None:  # reported factors → encoder coordinates
            z = z @ rotation.T.to(z.dtype)
        categorical, continuous = self._expand_covariates(reference, len(z))
        library = torch.zeros(len(z), 1, device=self.device)
        generative = self.module.generative(z, library, categorical, continuous)
        return {"rna": generative[MODULE_KEYS.PX_KEY].scale}

    # targets of get_feature_importance: the latent factors (posterior means)
    def _attribution_targets(self) -> list[str]:
        return self.factor_names

    def _attribution_function(self, targets: list[int]):
        module = self.module
        columns = torch.as_tensor(targets, device=self.device)
        rotation = self._rotation()
        if rotation is not None:  # the reported factors' columns of the rotation
            rotation = rotation.index_select(-1, columns)

        def posterior_mean(x, batch_index, cont_covs=None):
            mean = module.inference(x, batch_index, cont_covs)[MODULE_KEYS.QZ_KEY].loc
            if rotation is not None:
                return mean @ rotation.to(mean.dtype)
            return mean.index_select(-1, columns)

        return posterior_mean

    @classmethod
    @setup_anndata_dsp.dedent
    def setup_anndata(
        cls,
        adata: AnnData,
        layer: str | None = None,
        batch_key: str | None = None,
        labels_key: str | None = None,
        categorical_covariate_keys: list[str] | None = None,
        continuous_covariate_keys: list[str] | None = None,
        **kwargs,
    ):
        """%(summary)s.

        The counts are checked first (finite, non-negative integers) and every key must be a
        column of ``adata.obs``; on failure an error names the problem and nothing is written
        to ``adata``.

        Parameters
        ----------
        %(param_adata)s
        %(param_layer)s
        %(param_batch_key)s
        %(param_labels_key)s
        %(param_cat_cov_keys)s
        %(param_cont_cov_keys)s
        """
        # first, before other locals exist: scvi-tools records every local as a setup argument
        setup_method_args = cls._get_setup_method_args(**locals())
        check_is_anndata(adata, cls.__name__)
        check_key_lists(
            categorical_covariate_keys=categorical_covariate_keys,
            continuous_covariate_keys=continuous_covariate_keys,
        )
        check_has_cells(adata)
        matrix = get_matrix(adata, layer)
        keys = {
            "batch_key": batch_key,
            "categorical_covariate_keys": categorical_covariate_keys,
            "continuous_covariate_keys": continuous_covariate_keys,
        }
        if not kwargs.get("allow_missing_labels", False):
            keys["labels_key"] = labels_key
        check_obs_keys(adata, keys)
        check_continuous_covariates(adata.obs, continuous_covariate_keys)
        where = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
        check_counts(matrix, where)
        check_no_empty_cells(matrix, where)
        anndata_fields = [
            LayerField(REGISTRY_KEYS.X_KEY, layer, is_count_data=True),
            CategoricalObsField(REGISTRY_KEYS.BATCH_KEY, batch_key),
            CategoricalObsField(REGISTRY_KEYS.LABELS_KEY, labels_key),
            CategoricalJointObsField(REGISTRY_KEYS.CAT_COVS_KEY, categorical_covariate_keys),
            NumericalJointObsField(REGISTRY_KEYS.CONT_COVS_KEY, continuous_covariate_keys),
        ]
        adata_manager = AnnDataManager(fields=anndata_fields, setup_method_args=setup_method_args)
        with unchanged_on_failure(adata):
            adata_manager.register_fields(adata, **kwargs)
        cls.register_manager(adata_manager)

    @torch.inference_mode()
    def get_loadings(
        self,
        center: bool | None = None,
        key_added: str | None = None,
        units: LoadingUnits = "log",
        adata: AnnData | None = None,
        datamodule=None,
        factor_value: float | None = None,
    ) -> pd.DataFrame:
        """Gene loadings of each latent factor, read from the decoder's linear layer.

        The decoder computes ``softmax(W z + b + covariate offsets)`` (:doc:`user guide
        </user_guide/linear_vi>`); with a ``factor_rotation`` the loadings are those of the
        reported factors, ``W R``. Three readings of the same decoder:

        - ``units="log"`` (default): ``W`` itself, the change in a gene's log share of the
          cell's counts per unit of the factor — the same for every cell. Softmax ignores a
          constant added to all genes of a factor, so with ``center=True`` each factor's
          loadings are shifted to mean zero over genes: the decoder output is exactly the
          same. Log units favour genes with few counts: a gene at 0.01 counts per cell that
          rises ten-fold has a larger loading than an abundant marker that doubles.
        - ``units="expression"``: the decoder's derivative where the factor is on, in counts
          per 10,000 per unit of the factor. Column ``k`` is taken at ``z = v e_k`` (factor
          ``k`` at ``v = factor_value``, default 1, one prior sd; every other factor at 0)
          and the reference covariates (most frequent batch and categories, mean continuous
          covariates of ``adata``): ``1e4 * q_g * (W_gk - sum_h q_h W_hk)`` with ``q`` the
          expression shares decoded there, ``q = softmax(log p + v W_k)`` and ``p`` the
          shares of the average cell (``z = 0``). It weighs each gene's log change by how
          much of the cell's expression the gene is where the factor is active, so the top
          genes are those whose normalised expression moves most (which favours abundant
          genes). Each column sums to zero over genes (the shares are a composition); for
          ProgramVI, genes outside a program get only that dilution term,
          ``-1e4 * q_g * sum_h q_h W_hk``.
        - ``units="pearson"``: that derivative divided by the gene's Poisson noise there, in a
          cell of 10,000 counts, ``sqrt(1e4 * q_g) * (W_gk - sum_h q_h W_hk)``: how many noise
          standard deviations the gene moves per unit of the factor (the scale of analytic
          Pearson residuals). Between the two above: neither rare nor very abundant genes
          are favoured; the genes a factor separates cells by top it.

        Why at ``z = e_k`` rather than at the average cell (``factor_value=0``): a gene that
        only the factor's cells express has almost no share at ``z = 0``, so its slope there
        is small however specific it is; one sd along the factor it has the share it has in
        those cells. On the factor benchmark this finds more held-out markers among a
        factor's top genes on all three data sets (recall @20 in the user guide).

        Parameters
        ----------
        center
            Subtract each factor's mean loading over genes (log units only; default:
            ``True`` for LinearVI, ``False`` for ProgramVI, whose zeros outside a program
            carry meaning).
        key_added
            If given, also write the loadings to ``adata.varm[key_added]`` (the model's
            AnnData).
        units
            ``"log"``, ``"expression"`` or ``"pearson"`` (see above).
        adata
            With ``units="expression"`` or ``"pearson"``: cells that set the reference
            covariates; default the training data.
        datamodule
            Those cells on disk instead of ``adata`` (a data module with the model's registry).
        factor_value
            With ``units="expression"`` or ``"pearson"``: the value of factor ``k`` at which
            its column is read, every other factor at 0 (default 1.0, one prior sd; ``0.0``
            reads every column at the average cell, ``z = 0``).

        Returns
        -------
        DataFrame of shape (n_genes, n_latent), index ``var_names``, columns
        :attr:`factor_names`. For ProgramVI, each column is per unit of the program's
        sign-aligned activity (:meth:`get_program_activity`), so a positive loading means the
        gene goes up as the activity grows.

        Examples
        --------
        >>> log_loadings = model.get_loadings()  # W, centred
        >>> si.tl.top_features(model.get_loadings(units="pearson"), n_top=10)
        """
        if units not in ("log", "expression", "pearson"):
            raise InvalidArgumentError(
                f"units must be 'log' (W, log share per unit factor), 'expression' (counts "
                f"per 10,000 per unit factor where the factor is on) or 'pearson' (those counts "
                f"over their Poisson noise), not {units!r}."
            )
        if units == "log" and (adata is not None or datamodule is not None):
            raise InvalidArgumentError(
                "adata= and datamodule= set the reference cell of units='expression' and "
                "'pearson'; log loadings need no cells. Drop them or pass units='expression'."
            )
        if units == "log" and factor_value is not None:
            raise InvalidArgumentError(
                "factor_value sets where units='expression' and 'pearson' take the decoder's "
                "slope; log loadings (W) are the same everywhere. Drop it or pass "
                "units='pearson'."
            )
        real = isinstance(factor_value, numbers.Real) and not isinstance(factor_value, bool)
        if factor_value is not None and not (real and np.isfinite(factor_value)):
            raise InvalidArgumentError(
                f"factor_value must be a finite number (the factor's value where its column "
                f"is read; 1.0 = one prior sd, 0.0 = the average cell), not {factor_value!r}."
            )
        if key_added is not None and self.adata is None:
            raise InvalidArgumentError(
                "key_added writes to the model's adata.varm; this model has no AnnData."
            )
        weight = self.module.decoder.loadings().detach()
        rotation = self._rotation()
        if rotation is not None:  # the reported factors (see factor_rotation)
            weight = weight @ rotation.to(weight.dtype)
        # ProgramVI: per unit of the sign-aligned activity it reports (W z = (W s)(s z))
        directions = torch.as_tensor(self._latent_directions(), dtype=weight.dtype)
        weight = weight * directions.to(weight.device)
        if units != "log":
            cells = self._cells(adata, datamodule)
            value = 1.0 if factor_value is None else float(factor_value)
            weight = self._expression_loadings(weight, cells, units, value)
        elif self._center_loadings if center is None else center:
            weight = weight - weight.mean(dim=0, keepdim=True)
        loadings = pd.DataFrame(
            weight.cpu().numpy(), index=self.feature_names, columns=self.factor_names
        )
        if key_added is not None:
            store_array(self.adata, "varm", key_added, loadings)
        return loadings

    def _expression_loadings(
        self,
        weight: torch.Tensor,
        cells,
        units: LoadingUnits = "expression",
        factor_value: float = 1.0,
    ) -> torch.Tensor:
        """Jacobian of 1e4 × the decoded shares, column k at ``z = factor_value * e_k``.

        Parameters
        ----------
        weight
            Loadings of the reported factors in log units, shape (n_genes, K).
        cells
            Cells that set the reference covariates.
        units
            ``"expression"``; ``"pearson"`` divides each gene's row by its Poisson sd
            ``sqrt(1e4 q_g)`` at the point where the column is read.
        factor_value
            Factor k's value where column k is read (the others at 0).

        Returns
        -------
        Tensor of shape (n_genes, K). The decoder's logits are linear in ``z``, so the
        shares at ``v e_k`` are ``softmax(log p + v W_k)`` with ``p`` those at ``z = 0``:
        one decoder call, no pass over cells.
        """
        reference = self._reference_covariates(cells)
        origin = torch.zeros(1, self.module.n_latent, device=self.device)
        shares = self._decode(origin, reference)["rna"][0].double()  # (n_genes,) at z = 0
        weight64 = weight.double()
        logits = torch.log(shares)[:, None] + factor_value * weight64  # (n_genes, K)
        shares_at_factor = torch.softmax(logits, dim=0)  # column k: shares at z = v e_k
        mean_loading = (shares_at_factor * weight64).sum(dim=0)  # (K,) share-weighted
        if units == "pearson":
            scale = torch.sqrt(1e4 * shares_at_factor)
        else:
            scale = 1e4 * shares_at_factor
        return (scale * (weight64 - mean_loading)).to(weight.dtype)

    def train(
        self,
        max_epochs: int | None = None,
        batch_size: int = 128,
        plan_kwargs: dict | None = None,
        **kwargs,
    ):
        """Train the model with scvi-tools' training plan and Lightning trainer.

        After :meth:`load_query_data` the default weight decay is 0, so that the frozen
        reference weights stay exactly as they were. Afterwards the factor rotation
        (``factor_rotation``) is set from the trained loadings (not for a query model, which
        keeps its reference's).

        Parameters
        ----------
        max_epochs
            Passes through the data; default from the data size as in scvi-tools.
        batch_size
            Minibatch size.
        plan_kwargs
            Keyword arguments for :class:`~scvi.train.TrainingPlan`
            (``lr``, ``n_epochs_kl_warmup``…).
        **kwargs
            Passed to :meth:`scvi.model.base.UnsupervisedTrainingMixin.train`
            (``accelerator``, ``devices``, ``early_stopping``, ``train_size``…).
        """
        check_max_epochs(max_epochs)
        check_plan_kwargs(plan_kwargs, self._training_plan_cls, self.module)
        if self.adata is not None and kwargs.get("datamodule") is None:
            check_enough_cells(self.adata.n_obs, kwargs.get("train_size"))
        plan_kwargs = query_plan_kwargs(self.module, plan_kwargs)
        datamodule = kwargs.get("datamodule")
        if datamodule is not None and not hasattr(datamodule, "n_train"):
            # scvi-tools passes the loss the number of training cells only from a data
            # splitter's n_train (its TileDBDataModule has none): the loadings' prior needs it
            n_train = round(getattr(datamodule, "train_size", 1.0) * datamodule.n_obs)
            plan_kwargs.setdefault("n_obs", n_train)
        if self._loadings_start == "pca" and not self.is_trained_ and not self.module.is_query:
            self._start_loadings_at_pca(datamodule)
        self.module.train()  # load_query_data leaves it in eval mode (scvi-tools' ArchesMixin)
        result = train_keeping_interrupts(
            self,
            super().train,
            max_epochs=max_epochs,
            batch_size=batch_size,
            plan_kwargs=plan_kwargs,
            **kwargs,
        )
        if not self.module.is_query:  # a query keeps its reference's factors
            self._set_factor_rotation(datamodule)
        return result

    @staticmethod
    def prepare_query_anndata(
        adata: AnnData,
        reference_model,
        return_reference_var_names: bool = False,
        inplace: bool = False,
    ) -> AnnData | pd.Index | None:
        """The query with the reference's genes in the reference's order (missing ones zero).

        scvi-tools' :meth:`~scvi.model.base.ArchesMixin.prepare_query_anndata`, but by default
        it returns a new AnnData and leaves ``adata`` as it is (``inplace=True`` pads and
        reorders ``adata`` itself, as in scvi-tools).

        Parameters
        ----------
        adata
            Query AnnData (raw counts, the reference's ``.obs`` columns).
        reference_model
            Trained model or the folder it was saved to.
        return_reference_var_names
            Only return the reference's gene names.
        inplace
            Change ``adata`` itself instead of returning a new AnnData.

        Returns
        -------
        The prepared query (``None`` with ``inplace=True``), or the reference's gene names.
        """
        if isinstance(reference_model, os.PathLike):  # scvi-tools takes a str folder
            reference_model = os.fspath(reference_model)
        with safe_model_files():  # a folder's model file is read without unpickling
            return ArchesMixin.prepare_query_anndata(
                adata, reference_model, return_reference_var_names, inplace
            )

    @classmethod
    def load_query_data(cls, adata: AnnData = None, reference_model=None, **kwargs) -> LinearVI:
        """Map query data onto a trained reference (scArches surgery).

        The query must have the reference's genes in the reference's order (else an error
        says how to fix it). The query's new batch (and covariate) categories get their own
        rows in the decoder's offset tables and columns in the encoder's first layer; only
        these learn in the following :meth:`train`. The loadings, intercepts and dispersions
        stay frozen, so the query's factors mean what the reference's mean.

        Parameters
        ----------
        adata
            Query AnnData with the reference's genes in the same order (see
            :meth:`~scvi.model.base.ArchesMixin.prepare_query_anndata`) and the same
            ``.obs`` columns as used in :meth:`setup_anndata`.
        reference_model
            Trained :class:`LinearVI` or the folder it was saved to.
        **kwargs
            Passed to :meth:`scvi.model.base.ArchesMixin.load_query_data`.

        Returns
        -------
        A new :class:`LinearVI` for the query, ready to :meth:`train`.
        """
        if isinstance(reference_model, os.PathLike):  # scvi-tools takes a str folder
            reference_model = os.fspath(reference_model)
        if adata is not None and reference_model is not None:
            reference_genes = cls.prepare_query_anndata(
                adata, reference_model, return_reference_var_names=True
            )
            query_genes = adata.var_names
            if kwargs.get("inplace_subset_query_vars", False):  # scvi-tools subsets in place
                query_genes = reference_genes[reference_genes.isin(query_genes)]
            check_same_features(query_genes, reference_genes, cls.__name__)
        with reference_weights_follow():  # safe model files; start values are overwritten
            model = super().load_query_data(adata=adata, reference_model=reference_model, **kwargs)
        keep_query_registry(model, kwargs.get("registry"))
        if not kwargs.get("unfrozen", False):
            model.module.train_new_categories_only()
        return model


def _reads_positions(datamodule) -> bool:
    """Whether a data module's inference loader reads chosen cells (``indices=``)."""
    reader = getattr(datamodule, "inference_dataloader", None)
    return reader is not None and "indices" in inspect.signature(reader).parameters


def _sample_positions(n_obs: int) -> np.ndarray:
    """A seeded (0) uniform sample of at most ``ROTATION_CELLS`` positions, sorted."""
    rng = np.random.default_rng(0)
    return np.sort(rng.choice(n_obs, min(n_obs, ROTATION_CELLS), replace=False))
