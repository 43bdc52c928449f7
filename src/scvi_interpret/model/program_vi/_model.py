"""ProgramVI: a VAE whose linear decoder is masked by prior gene programs (expiMap idea)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import torch
from anndata import AnnData

from scvi_interpret.errors import ArgumentTypeError, InvalidArgumentError, UnknownNameError
from scvi_interpret.genesets import GeneSets
from scvi_interpret.model.base._hyperparameters import check_hyperparameters
from scvi_interpret.model.base._store import store_array
from scvi_interpret.model.linear_vi import LinearVI
from scvi_interpret.model.linear_vi._module import Dispersion, GeneLikelihood
from scvi_interpret.tl import GroupMoments, differential_activity_from_moments

from ._module import ProgramVAE
from ._programs import UNCONSTRAINED_PREFIX, resolve_program_mask
from ._training_plan import ProgramTrainingPlan

DIFFERENTIAL_CHUNK = 65_536


class ProgramVI(LinearVI):
    """VAE with one latent node per prior gene program and a masked linear decoder.

    Each program (a Reactome pathway, a Hallmark set, …) owns one latent node that acts only
    on the program's genes (hard mask) or mostly on them (soft mask: out-of-program weights are
    L1-penalised, so a program can gain genes the data support). A group lasso switches off
    programs the data do not need, and ``n_unconstrained`` extra nodes capture variation no
    database knows. :meth:`get_feature_importance` explains each program's activity by SHAP
    values of the input genes. Batch and covariates enter through their own decoder terms
    (see :class:`~scvi_interpret.model.LinearVI`). Peers: expiMap :cite:p:`Lotfollahi2023`,
    VEGA :cite:p:`Seninge2021`.

    Parameters
    ----------
    adata
        AnnData registered with :meth:`setup_anndata` (in memory or backed); ``None`` with
        ``registry``.
    gene_programs
        A boolean genes × programs DataFrame (from :func:`~scvi_interpret.genesets.build_mask`),
        the key of one in ``adata.varm``, a GMT path, a dict of gene sets or a long DataFrame.
    min_genes
        Fewest genes of the data a program must have: filters gene sets (default 12); a mask
        with smaller programs is an error. ``None`` (default): 12 for gene sets, and a mask
        already built (e.g. ``build_mask(..., min_genes=5)``) is taken as it is.
    n_unconstrained
        Extra nodes acting on all genes.
    mask_type
        ``"hard"`` (weights outside a program are exactly zero) or ``"soft"``.
    soft_mask_l1
        L1 strength on out-of-program weights (soft mask).
    group_lasso
        Group-lasso strength per node; 0 keeps every program on.
    unconstrained_l1
        L1 strength on the unconstrained nodes' weights (sparse new programs).
    n_hidden, n_layers, dropout_rate, gene_likelihood, dispersion, encode_covariates
        As in :class:`~scvi_interpret.model.LinearVI`.
    registry
        For data not in memory: the registry of a data module
        (:class:`~scvi_interpret.data.SomaDataModule`), then ``train(datamodule=…)``.

    Notes
    -----
    The penalties are proximal steps after each Adam step that use Adam's own per-weight step
    size (proximal Adam): a weight (or a node's column) survives where the loss gradient on
    it is consistently larger than the penalty. Strengths are in units of the data's mean
    count per gene and cell (``module.penalty_scale``), so that the same value means the same
    on deep and shallow data. Raise ``group_lasso`` to keep fewer programs; raise
    ``soft_mask_l1`` to let programs gain fewer genes. A group lasso much stronger than the
    soft-mask L1 lets one node absorb another program's genes with a negative sign; keep
    ``soft_mask_l1`` at least as large as ``group_lasso``. The group lasso acts on program
    nodes only; unconstrained nodes are kept sparse by ``unconstrained_l1``, so that a new
    node describes the genes that go up together rather than, equivalently under the softmax,
    all other genes going down.

    Examples
    --------
    >>> mask = si.genesets.build_mask(adata.var_names, "c2.cp.reactome.v7.5.1.symbols.gmt",
    ...                               min_genes=12)
    >>> si.model.ProgramVI.setup_anndata(adata, layer="counts", batch_key="batch")
    >>> model = si.model.ProgramVI(adata, gene_programs=mask, n_unconstrained=4)
    >>> model.train()
    >>> activity = model.get_program_activity()         # cells × programs
    >>> model.differential_program_activity("cell_type").query("is_changed")
    """

    _module_cls = ProgramVAE
    _training_plan_cls = ProgramTrainingPlan
    _center_loadings = False

    def __init__(
        self,
        adata: AnnData | None = None,
        gene_programs: pd.DataFrame | GeneSets = None,
        min_genes: int | None = None,
        n_unconstrained: int = 0,
        mask_type: Literal["hard", "soft"] = "hard",
        soft_mask_l1: float = 0.05,
        group_lasso: float = 0.05,
        unconstrained_l1: float = 0.05,
        n_hidden: int = 128,
        n_layers: int = 1,
        dropout_rate: float = 0.1,
        gene_likelihood: GeneLikelihood = "nb",
        dispersion: Dispersion = "gene",
        encode_covariates: bool = True,
        registry: dict | None = None,
    ):
        if gene_programs is None:
            raise ArgumentTypeError(
                "ProgramVI needs gene_programs (a genes × programs mask, GMT, …)."
            )
        if mask_type not in ("hard", "soft"):
            raise InvalidArgumentError(f"mask_type must be 'hard' or 'soft', not {mask_type!r}.")
        if min_genes is not None:
            check_hyperparameters("ProgramVI", min_genes=min_genes)
        check_hyperparameters(
            "ProgramVI", n_unconstrained=n_unconstrained,
            soft_mask_l1=soft_mask_l1, group_lasso=group_lasso,
            unconstrained_l1=unconstrained_l1, n_hidden=n_hidden, n_layers=n_layers,
            dropout_rate=dropout_rate,
        )  # fmt: skip
        if adata is not None:
            self._validate_anndata_setup(adata)
        super(LinearVI, self).__init__(adata, registry)
        gene_programs = resolve_program_mask(
            self.feature_names, {} if adata is None else adata.varm, gene_programs, min_genes
        )
        self.program_mask = gene_programs
        self._penalties = {
            "soft_mask_l1": soft_mask_l1 if mask_type == "soft" else 0.0,
            "group_lasso": group_lasso,
            "unconstrained_l1": unconstrained_l1,
        }
        n_genes = len(self.feature_names)
        full_mask = np.concatenate(
            [gene_programs.to_numpy(), np.ones((n_genes, n_unconstrained), dtype=bool)], 1
        )
        statistics = self._build_module(
            program_mask=torch.as_tensor(full_mask),
            n_unconstrained=n_unconstrained,
            soft_mask=mask_type == "soft",
            n_hidden=n_hidden,
            n_layers=n_layers,
            dropout_rate=dropout_rate,
            gene_likelihood=gene_likelihood,
            dispersion=dispersion,
            encode_covariates=encode_covariates,
        )
        if statistics is not None:
            self.module.penalty_scale.fill_(statistics["mean_count"])
        self._model_summary_string = (
            f"ProgramVI model: {gene_programs.shape[1]} programs + {n_unconstrained} "
            f"unconstrained nodes, {mask_type} mask, group_lasso: {group_lasso}, "
            f"soft_mask_l1: {self._penalties['soft_mask_l1']}, gene_likelihood: "
            f"{gene_likelihood}, n_hidden: {n_hidden}"
        )
        self.init_params_ = self._get_init_params(locals())

    @classmethod
    def _validate_anndata_setup(cls, adata: AnnData) -> None:
        if cls._get_most_recent_anndata_manager(adata) is None:
            raise InvalidArgumentError(
                "adata is not set up for ProgramVI. Call "
                "`si.model.ProgramVI.setup_anndata(adata, layer=..., batch_key=...)` first."
            )

    # ---------------------------------------------------------------- names
    @property
    def program_names(self) -> list[str]:
        """Names of the latent nodes: the programs, then ``unconstrained_0`` …."""
        n_extra = self.module.n_unconstrained
        return [*map(str, self.program_mask.columns)] + [
            f"{UNCONSTRAINED_PREFIX}{i}" for i in range(n_extra)
        ]

    @property
    def factor_names(self) -> list[str]:
        """Same as :attr:`program_names`."""
        return self.program_names

    def _latent_directions(self) -> np.ndarray:
        return self.program_directions().to_numpy()

    def _attribution_function(self, targets: list[int]):
        """Posterior means of the chosen nodes, sign-aligned like the program activity."""
        encode = super()._attribution_function(targets)
        signs = torch.as_tensor(
            self.program_directions().to_numpy()[targets], dtype=torch.float32, device=self.device
        )
        return lambda x, **covariates: encode(x, **covariates) * signs

    def _node_index(self, program: str) -> int:
        names = self.program_names
        if program not in names:
            close = [n for n in names if program.lower() in n.lower()][:5]
            raise UnknownNameError(
                f"{program!r} is not a program of this model. "
                + (f"Did you mean one of {close}?" if close else "See `model.program_names`.")
            )
        return names.index(program)

    # ------------------------------------------------------------- training
    def train(
        self,
        max_epochs: int | None = None,
        batch_size: int = 128,
        plan_kwargs: dict | None = None,
        **kwargs,
    ):
        """Train with scvi-tools' trainer; the sparsity penalties are proximal steps.

        Parameters
        ----------
        max_epochs
            Passes through the data.
        batch_size
            Minibatch size.
        plan_kwargs
            Keyword arguments for :class:`~scvi_interpret.model.program_vi.ProgramTrainingPlan`;
            ``soft_mask_l1``, ``group_lasso`` and ``unconstrained_l1`` default to the model's.
        **kwargs
            Passed to :meth:`scvi.model.base.UnsupervisedTrainingMixin.train`.
        """
        plan_kwargs = {**self._penalties, **(plan_kwargs or {})}
        return super().train(
            max_epochs=max_epochs, batch_size=batch_size, plan_kwargs=plan_kwargs, **kwargs
        )

    # --------------------------------------------------------- program views
    @torch.inference_mode()
    def program_directions(self) -> pd.Series:
        """+1 or −1 per node: the sign that makes higher activity mean the genes go up.

        For a program node, the sign of the sum of its weights on the program's genes; for an
        unconstrained node, the sign of its largest-magnitude weight.
        """
        weight = self.module.decoder.loadings().detach().cpu().numpy()
        mask = self.module.decoder.factor_loadings.mask.cpu().numpy()
        signs = np.sign((weight * mask).sum(axis=0))
        for node in range(self.module.n_programs, self.module.n_latent):
            signs[node] = np.sign(weight[np.argmax(np.abs(weight[:, node])), node])
        signs[signs == 0] = 1.0
        return pd.Series(signs, index=self.program_names, name="direction")

    @torch.inference_mode()
    def program_summary(self, threshold: float = 1e-8) -> pd.DataFrame:
        """Per node: prior size, genes it uses, weight norm and whether it is active.

        Parameters
        ----------
        threshold
            Weight magnitude above which a gene counts as used; a node is active when it uses
            any gene (the group lasso sets switched-off nodes to exactly zero).

        Returns
        -------
        DataFrame indexed by node with ``n_genes_prior``, ``n_genes_used``,
        ``n_genes_gained`` (used but outside the prior program), ``weight_norm``, ``active``,
        ``unconstrained``, sorted like :attr:`program_names`.
        """
        weight = np.abs(self.module.decoder.loadings().detach().cpu().numpy())
        prior = self.module.decoder.factor_loadings.mask.cpu().numpy().copy()
        unconstrained = self.module.unconstrained_nodes().numpy()
        prior[:, unconstrained] = False
        used = weight > threshold
        return pd.DataFrame(
            {
                "n_genes_prior": prior.sum(0),
                "n_genes_used": used.sum(0),
                "n_genes_gained": (used & ~prior).sum(0) * ~unconstrained,
                "weight_norm": np.sqrt((weight**2).sum(0)),
                "active": used.any(0),
                "unconstrained": unconstrained,
            },
            index=pd.Index(self.program_names, name="program"),
        )

    def get_program_genes(self, program: str, threshold: float = 1e-8) -> pd.DataFrame:
        """The genes a program acts on, with their sign-aligned weights.

        Parameters
        ----------
        program
            A name from :attr:`program_names`.
        threshold
            Drop genes whose weight magnitude is at most this.

        Returns
        -------
        DataFrame with columns ``gene``, ``weight`` (positive: the gene goes up with the
        program's activity), ``in_prior_mask``; sorted by decreasing ``|weight|``.
        """
        self._node_index(program)  # a clear error for an unknown name
        table = self._aligned_weights(threshold)
        table = table[table["program"] == program]
        return table.drop(columns="program").reset_index(drop=True)

    def gained_genes(self, threshold: float = 1e-3) -> pd.DataFrame:
        """Genes that programs gained outside their prior sets (soft mask).

        Parameters
        ----------
        threshold
            Smallest weight magnitude that counts.

        Returns
        -------
        DataFrame with ``program``, ``gene``, ``weight`` (sign-aligned), sorted by decreasing
        ``|weight|``; empty for a hard mask.
        """
        table = self._aligned_weights(threshold)
        gained = table[~table["in_prior_mask"] & table["program"].isin(self._prior_programs())]
        return gained[["program", "gene", "weight"]].reset_index(drop=True)

    def _prior_programs(self) -> list[str]:
        return self.program_names[: self.module.n_programs]

    @torch.inference_mode()
    def _aligned_weights(self, threshold: float) -> pd.DataFrame:
        """Every non-zero decoder weight, sign-aligned, in one pass over the loadings.

        Columns ``program, gene, weight, in_prior_mask``, sorted by decreasing ``|weight|``.
        """
        weight = self.module.decoder.loadings().detach().cpu().numpy()
        in_mask = self.module.decoder.factor_loadings.mask.cpu().numpy().copy()
        in_mask[:, self.module.unconstrained_nodes().numpy()] = False
        weight = weight * self.program_directions().to_numpy()
        genes, nodes = np.nonzero(np.abs(weight) > threshold)
        table = pd.DataFrame(
            {
                "program": np.asarray(self.program_names, dtype=object)[nodes],
                "gene": self.feature_names[genes],
                "weight": weight[genes, nodes],
                "in_prior_mask": in_mask[genes, nodes],
            }
        )
        return table.sort_values("weight", key=np.abs, ascending=False, ignore_index=True)

    def get_program_activity(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        active_only: bool = False,
        batch_size: int | None = None,
        key_added: str | None = None,
        datamodule=None,
    ) -> pd.DataFrame:
        """Activity of each program in each cell: the sign-aligned posterior mean.

        Parameters
        ----------
        adata
            AnnData set up like the training data; default the training data.
        indices
            Cells to use (positions); default all.
        active_only
            Keep only the programs the group lasso left on.
        batch_size
            Minibatch size.
        key_added
            If given (and ``indices`` is ``None``), also write the DataFrame to
            ``adata.obsm[key_added]``.
        datamodule
            Cells on disk instead of ``adata`` (see :meth:`get_latent_representation`).

        Returns
        -------
        DataFrame of shape (n_cells, n_programs), higher = the program's genes are higher.
        """
        if key_added is not None and indices is not None:
            raise InvalidArgumentError(
                "key_added cannot be combined with indices; subset the data."
            )
        cells = self._cells(adata, datamodule, key_added)
        latent = self.get_latent_representation(
            adata, indices=indices, batch_size=batch_size, datamodule=datamodule
        )
        activity = pd.DataFrame(
            latent * self.program_directions().to_numpy(),
            index=cells.names(self._resolve_indices(indices, cells.n_obs)),
            columns=self.program_names,
        )
        if active_only:
            activity = activity.loc[:, self.program_summary()["active"].to_numpy()]
        if key_added is not None:
            store_array(cells.adata, "obsm", key_added, activity)
        return activity

    def differential_program_activity(
        self,
        groupby: str,
        group1: Sequence | None = None,
        group2: object | None = None,
        adata: AnnData | None = None,
        delta: float = 0.5,
        fdr_target: float = 0.05,
        batch_size: int | None = None,
        datamodule=None,
    ) -> pd.DataFrame:
        """Programs whose activity differs between groups of cells.

        See :func:`scvi_interpret.tl.differential_activity` for the statistics (closed-form
        posterior of the standardised difference of group means, Bayes factor, posterior
        expected FDR calls).

        Parameters
        ----------
        groupby
            Column of ``adata.obs`` with the groups (e.g. ``"cell_type"``).
        group1
            Groups to test; default each group.
        group2
            Group to compare against; default the rest of the cells.
        adata
            Default the training data.
        delta
            Smallest standardised difference that counts as a change.
        fdr_target
            Target posterior expected false discovery rate.
        batch_size
            Minibatch size.
        datamodule
            Cells on disk instead of ``adata``; ``groupby`` is then a column of the store's
            ``obs``.

        Returns
        -------
        Tidy DataFrame, one row per (group, program), with ``effect_size``, ``proba_up``,
        ``bayes_factor``, ``proba_change``, ``is_changed`` and ``active``; cells without a
        group are left out. The statistics are exact sums over every cell, read in chunks of
        65,536 (memory: groups × programs); ``table.attrs["n_cells"]`` counts the cells used.
        """
        cells = self._cells(adata, datamodule)
        try:
            groups = cells.obs_column(groupby)
        except KeyError as error:
            raise UnknownNameError(f"groupby={groupby!r}: {error.args[0]}") from None
        directions = self.program_directions().to_numpy()
        moments = GroupMoments()
        for start in range(0, cells.n_obs, DIFFERENTIAL_CHUNK):
            chunk = np.arange(start, min(start + DIFFERENTIAL_CHUNK, cells.n_obs))
            means, variances = self._latent_of(
                cells, chunk, batch_size=batch_size, return_dist=True
            )
            moments.add(means * directions, variances, groups.iloc[chunk].to_numpy())
        table = differential_activity_from_moments(
            moments, self.program_names, group1=group1, group2=group2, delta=delta,
            fdr_target=fdr_target,
        )  # fmt: skip
        table.attrs["n_cells"] = int(sum(moments.n.values()))
        active = self.program_summary()["active"]
        table["active"] = table["program"].map(active).to_numpy()
        return table

    # ---------------------------------------------------------- query mapping
    @classmethod
    def load_query_data(
        cls,
        adata: AnnData = None,
        reference_model=None,
        new_n_unconstrained: int = 0,
        **kwargs,
    ) -> ProgramVI:
        """Map query data onto a trained reference; optionally learn new programs.

        The reference's programs stay frozen (so a program's activity means the same in the
        query); the query's new batch terms learn, and ``new_n_unconstrained`` new
        unconstrained nodes can capture programs only the query has (expiMap's
        ``new_n_ext``). Only these nodes change during the following :meth:`train`.

        Parameters
        ----------
        adata
            Query AnnData with the reference's genes in order and the setup's ``.obs`` columns.
        reference_model
            Trained :class:`ProgramVI` or the folder it was saved to.
        new_n_unconstrained
            Nodes to add for the query.
        **kwargs
            Passed to :meth:`scvi.model.base.ArchesMixin.load_query_data`.

        Returns
        -------
        A new :class:`ProgramVI` for the query, ready to :meth:`train`.
        """
        if new_n_unconstrained < 0:
            raise InvalidArgumentError(
                f"new_n_unconstrained must be >= 0, got {new_n_unconstrained}."
            )
        model = super().load_query_data(adata=adata, reference_model=reference_model, **kwargs)
        model.module.prox_nodes = torch.zeros(model.module.n_latent, dtype=torch.bool)
        if new_n_unconstrained:
            model.module.add_latent_nodes(new_n_unconstrained)
            params = model.init_params_.get("non_kwargs", model.init_params_)
            params["n_unconstrained"] = model.module.n_unconstrained
        return model
