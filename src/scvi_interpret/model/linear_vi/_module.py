"""Torch module of LinearVI: non-linear encoder, linear decoder, count likelihood."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from scvi import REGISTRY_KEYS
from scvi.distributions import NegativeBinomial, Poisson, ZeroInflatedNegativeBinomial
from scvi.module._constants import MODULE_KEYS
from scvi.module.base import BaseModuleClass, LossOutput, auto_move_data
from scvi.nn import Encoder
from torch import nn
from torch.distributions import Normal, kl_divergence

from scvi_interpret.errors import InvalidArgumentError
from scvi_interpret.nn import LinearDecoder, nb_log_prob, train_only_beyond

GeneLikelihood = Literal["nb", "zinb", "poisson"]
Dispersion = Literal["gene", "gene-batch"]


def _identity_rotation_if_missing(module, state_dict, prefix, *args) -> None:
    """Models saved before ``factor_rotation`` existed load with the identity (unrotated)."""
    key = prefix + "factor_rotation"
    if key not in state_dict:
        n_latent = state_dict[prefix + "z_encoder.mean_encoder.weight"].shape[0]
        state_dict[key] = torch.eye(n_latent)


class LinearVAE(BaseModuleClass):
    """Variational autoencoder with a linear decoder and covariates as separate offsets.

    The encoder reads ``log1p`` counts (and the batch one-hot and continuous covariates when
    ``encode_covariates``) and returns a normal posterior over ``n_latent`` factors. The
    decoder is :class:`~scvi_interpret.nn.LinearDecoder`; the expected count of gene ``g`` is
    ``library * softmax(logits)_g`` with the observed library size.

    Parameters
    ----------
    n_input
        Number of genes.
    n_batch
        Number of batches; a single batch still gets its offset table (see reference mapping).
    n_cats_per_cov
        Categories of each extra categorical covariate.
    n_continuous_cov
        Number of continuous covariates.
    n_latent
        Number of latent factors.
    n_hidden
        Width of the encoder's hidden layers.
    n_layers
        Number of hidden layers of the encoder.
    dropout_rate
        Dropout in the encoder.
    gene_likelihood
        ``"nb"``, ``"zinb"`` or ``"poisson"``.
    dispersion
        ``"gene"`` (one per gene) or ``"gene-batch"`` (per gene and batch).
    encode_covariates
        Give the encoder the batch and continuous covariates (needed to adapt the encoder to
        a query's batches in reference mapping).
    gene_log_frequencies
        Start value of the decoder's intercept, shape (n_input,): log of each gene's mean
        share of a cell's counts. Training starts from the average cell instead of a flat one.
    program_mask
        Boolean tensor (n_input, n_latent): restrict each latent node to a gene program
        (see :class:`~scvi_interpret.nn.LinearDecoder`). ``None``: a dense linear decoder.
    soft_mask
        Use ``program_mask`` as a soft mask.
    loadings_prior_sd
        Standard deviation of a normal prior on each factor loading (log-fold change per unit
        of the factor), or ``None`` for a flat prior. The loadings are then the most probable
        ones given the data (MAP): the loss adds ``sum(W**2) / (2 sd**2)`` over the number of
        training cells, so the prior matters less as cells grow.

    Examples
    --------
    The module behind :class:`~scvi_interpret.model.LinearVI`; reach it as ``model.module``.

    >>> model = si.model.LinearVI(adata, n_latent=10)
    >>> model.module.decoder.factor_loadings.weight.shape  # genes × factors
    """

    def __init__(
        self,
        n_input: int,
        n_batch: int = 0,
        n_cats_per_cov: Sequence[int] | None = None,
        n_continuous_cov: int = 0,
        n_latent: int = 10,
        n_hidden: int = 128,
        n_layers: int = 1,
        dropout_rate: float = 0.1,
        gene_likelihood: GeneLikelihood = "nb",
        dispersion: Dispersion = "gene",
        encode_covariates: bool = True,
        gene_log_frequencies: torch.Tensor | None = None,
        program_mask: torch.Tensor | None = None,
        soft_mask: bool = False,
        loadings_prior_sd: float | None = None,
    ):
        super().__init__()
        if loadings_prior_sd is not None and not loadings_prior_sd > 0:
            raise InvalidArgumentError(
                f"loadings_prior_sd must be a positive number or None, not {loadings_prior_sd!r}."
            )
        self.loadings_prior_sd = loadings_prior_sd
        if gene_likelihood not in ("nb", "zinb", "poisson"):
            raise InvalidArgumentError(
                f"gene_likelihood must be 'nb', 'zinb' or 'poisson', not {gene_likelihood!r}."
            )
        if dispersion not in ("gene", "gene-batch"):
            raise InvalidArgumentError(
                f"dispersion must be 'gene' or 'gene-batch', not {dispersion!r}."
            )
        self.n_input, self.n_latent = n_input, n_latent
        self.gene_likelihood, self.dispersion = gene_likelihood, dispersion
        self.encode_covariates = encode_covariates
        # the batch always has its own offset table, even with one batch: a query can then
        # add batches to a reference trained on one
        n_batch = max(int(n_batch), 1)
        self.n_batch = n_batch
        cats = [n_batch, *list(n_cats_per_cov or [])]
        # Categories seen in training, per categorical covariate (the batch first). Saved
        # with the model; ArchesMixin loads the reference's values into a query model.
        self.register_buffer("n_trained_categories", torch.tensor(cats, dtype=torch.long))
        self.z_encoder = Encoder(
            n_input + (n_continuous_cov if encode_covariates else 0),
            n_latent,
            n_cat_list=[n_batch] if encode_covariates else None,
            n_layers=n_layers,
            n_hidden=n_hidden,
            dropout_rate=dropout_rate,
            distribution="normal",
            use_batch_norm=False,
            use_layer_norm=True,
            return_dist=True,
        )
        self.decoder = LinearDecoder(
            n_latent,
            n_input,
            cats,
            n_continuous_cov,
            zero_inflation=gene_likelihood == "zinb",
            program_mask=program_mask,
            soft_mask=soft_mask,
        )
        if gene_log_frequencies is not None:
            self.decoder.intercept.data.copy_(torch.as_tensor(gene_log_frequencies))
        if gene_likelihood != "poisson":
            shape = (n_input, n_batch) if dispersion == "gene-batch" else (n_input,)
            self.px_r = nn.Parameter(torch.randn(shape))
        # Orthogonal map from the encoder's coordinates to the reported factors (n_latent ×
        # n_latent; identity until LinearVI.train sets it). Training and the ELBO use the
        # encoder's coordinates; readers report ``z @ R`` and ``W @ R`` (R = factor_rotation),
        # which give the decoder exactly the same logits (the prior is rotation invariant).
        self.register_buffer("factor_rotation", torch.eye(n_latent))
        self.register_load_state_dict_pre_hook(_identity_rotation_if_missing)
        self.is_query = False

    # ----------------------------------------------------------------- inputs
    def _categorical_inputs(self, tensors: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        codes = [tensors[REGISTRY_KEYS.BATCH_KEY]]
        cat_covs = tensors.get(REGISTRY_KEYS.CAT_COVS_KEY)
        if cat_covs is not None:
            codes += list(torch.split(cat_covs, 1, dim=1))
        return codes

    def _get_inference_input(self, tensors: dict[str, torch.Tensor]) -> dict:
        return {
            MODULE_KEYS.X_KEY: tensors[REGISTRY_KEYS.X_KEY],
            MODULE_KEYS.BATCH_INDEX_KEY: tensors[REGISTRY_KEYS.BATCH_KEY],
            MODULE_KEYS.CONT_COVS_KEY: tensors.get(REGISTRY_KEYS.CONT_COVS_KEY),
        }

    def _get_generative_input(self, tensors: dict[str, torch.Tensor], inference_outputs: dict):
        return {
            MODULE_KEYS.Z_KEY: inference_outputs[MODULE_KEYS.Z_KEY],
            MODULE_KEYS.LIBRARY_KEY: inference_outputs[MODULE_KEYS.LIBRARY_KEY],
            "categorical": self._categorical_inputs(tensors),
            MODULE_KEYS.CONT_COVS_KEY: tensors.get(REGISTRY_KEYS.CONT_COVS_KEY),
        }

    # -------------------------------------------------------------- inference
    @auto_move_data
    def inference(
        self,
        x: torch.Tensor,
        batch_index: torch.Tensor,
        cont_covs: torch.Tensor | None = None,
        n_samples: int = 1,
    ) -> dict[str, torch.Tensor | Normal]:
        """Posterior over the latent factors.

        Parameters
        ----------
        x
            Counts, shape (n_cells, n_genes).
        batch_index
            Batch codes, shape (n_cells, 1).
        cont_covs
            Continuous covariates, shape (n_cells, n_continuous), or ``None``.
        n_samples
            Posterior samples to draw.

        Returns
        -------
        dict with ``qz`` (Normal, batch shape (n_cells, n_latent)), ``z`` (a sample, with a
        leading ``n_samples`` axis when ``n_samples > 1``) and ``library`` (log total counts,
        shape (n_cells, 1)).
        """
        library = torch.log(x.sum(dim=1, keepdim=True))
        encoder_input = torch.log1p(x)
        if self.encode_covariates and cont_covs is not None:
            encoder_input = torch.cat([encoder_input, cont_covs], dim=-1)
        batch = [batch_index] if self.encode_covariates else []
        qz, z = self.z_encoder(encoder_input, *batch)
        if n_samples > 1:
            z = qz.sample((n_samples,))
        return {MODULE_KEYS.QZ_KEY: qz, MODULE_KEYS.Z_KEY: z, MODULE_KEYS.LIBRARY_KEY: library}

    # ------------------------------------------------------------- generative
    @auto_move_data
    def generative(
        self,
        z: torch.Tensor,
        library: torch.Tensor,
        categorical: Sequence[torch.Tensor] = (),
        cont_covs: torch.Tensor | None = None,
        transform_batch: int | None = None,
    ) -> dict:
        """Likelihood of the counts given the latent factors.

        Parameters
        ----------
        z
            Latent factors, shape (n_cells, n_latent) or (n_samples, n_cells, n_latent).
        library
            Log library size, shape (n_cells, 1).
        categorical
            Code tensors (n_cells, 1) per categorical covariate, the batch first.
        cont_covs
            Continuous covariates (n_cells, n_continuous) or ``None``.
        transform_batch
            Decode every cell as if it came from this batch code.

        Returns
        -------
        dict with ``px`` (count distribution over (…, n_cells, n_genes)), ``pz`` (prior) and
        ``theta`` (NB inverse dispersion before broadcasting, or ``None``).
        """
        categorical = list(categorical)
        if transform_batch is not None:
            categorical[0] = torch.full_like(categorical[0], int(transform_batch))
        logits, zi_logits = self.decoder(z, categorical, cont_covs)
        px_scale = torch.softmax(logits, dim=-1)
        px_rate = torch.exp(library) * px_scale
        theta = None
        if self.gene_likelihood == "poisson":
            px = Poisson(rate=px_rate, scale=px_scale)
        else:
            theta = self.px_r
            if self.dispersion == "gene-batch":
                theta = theta.T[categorical[0].reshape(-1).long()]
            theta = torch.exp(theta)
            if self.gene_likelihood == "zinb":
                px = ZeroInflatedNegativeBinomial(
                    mu=px_rate, theta=theta, zi_logits=zi_logits, scale=px_scale
                )
            else:
                px = NegativeBinomial(mu=px_rate, theta=theta, scale=px_scale)
        pz = Normal(torch.zeros_like(z), torch.ones_like(z))
        # theta before broadcasting: (n_genes,) for "gene" dispersion, lets the loss be cheaper
        return {MODULE_KEYS.PX_KEY: px, MODULE_KEYS.PZ_KEY: pz, "theta": theta}

    def loss(
        self,
        tensors: dict[str, torch.Tensor],
        inference_outputs: dict,
        generative_outputs: dict,
        kl_weight: float = 1.0,
        n_obs: int | None = None,
    ) -> LossOutput:
        """Negative ELBO per cell, plus the loadings' negative log prior over ``n_obs``.

        Reconstruction NLL and the (warm-up weighted) KL of the factors, averaged over the
        minibatch; with ``loadings_prior_sd``, ``sum(W**2) / (2 sd**2) / n_obs`` is added.

        Parameters
        ----------
        tensors, inference_outputs, generative_outputs
            A minibatch and the module's outputs for it.
        kl_weight
            Weight of the factors' KL (the training plan's warm-up).
        n_obs
            Number of training cells; scvi-tools' training plan passes it. Needed to train with
            ``loadings_prior_sd``.

        Returns
        -------
        :class:`~scvi.module.base.LossOutput`; ``kl_global`` is the loadings' negative log
        prior (0 without a prior), as scvi-tools counts global terms in the ELBO.
        """
        x = tensors[REGISTRY_KEYS.X_KEY]
        kl_z = kl_divergence(
            inference_outputs[MODULE_KEYS.QZ_KEY], generative_outputs[MODULE_KEYS.PZ_KEY]
        ).sum(dim=-1)
        px = generative_outputs[MODULE_KEYS.PX_KEY]
        if self.gene_likelihood == "nb":
            # the same value as px.log_prob(x), computed with far fewer gamma functions
            log_likelihood = nb_log_prob(x, px.mu, generative_outputs["theta"])
        else:
            log_likelihood = px.log_prob(x)
        reconstruction = -log_likelihood.sum(-1)
        loss = torch.mean(reconstruction + kl_weight * kl_z)
        loadings_penalty = self.loadings_negative_log_prior()
        if self.loadings_prior_sd is not None:
            if n_obs is None and self.training:
                raise InvalidArgumentError(
                    "The loss was called in training without n_obs (the number of training "
                    "cells), which the loadings' prior (loadings_prior_sd) needs. scvi-tools' "
                    "training plan passes it when the module's loss takes an n_obs argument: a "
                    "subclass that overrides loss must take n_obs and pass it on, or use "
                    "loadings_prior_sd=None."
                )
            if n_obs is not None:
                loss = loss + loadings_penalty / n_obs
        return LossOutput(
            loss=loss, reconstruction_loss=reconstruction, kl_local={MODULE_KEYS.KL_Z_KEY: kl_z},
            kl_global=loadings_penalty,
        )  # fmt: skip

    def loadings_negative_log_prior(self) -> torch.Tensor:
        """``sum(W**2) / (2 sd**2)`` of the loadings ``W`` (a scalar; 0 with a flat prior).

        The normal prior's normalising constant is left out (it does not depend on ``W``).
        """
        if self.loadings_prior_sd is None:
            return torch.zeros((), device=self.decoder.intercept.device)
        weight = self.decoder.loadings()
        return (weight**2).sum() / (2 * self.loadings_prior_sd**2)

    # ---------------------------------------------------------- query mapping
    def train_new_categories_only(self) -> None:
        """After ``ArchesMixin`` surgery: only rows/columns of new categories learn.

        ``n_trained_categories`` holds the reference's counts (loaded from its state dict);
        afterwards it is set to the current counts, so the query model can itself serve as a
        reference.
        """
        n_reference = self.n_trained_categories.tolist()
        offsets = self.decoder.covariate_offsets
        offsets.train_new_categories_only(n_reference)
        if self.dispersion == "gene-batch" and self.n_batch > n_reference[0]:
            train_only_beyond(self.px_r, n_reference[0], dim=1)
        self.is_query = True
        current = [table.num_embeddings for table in offsets.categorical]
        self.n_trained_categories.copy_(torch.tensor(current, dtype=torch.long))
