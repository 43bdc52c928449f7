"""Torch module of MultimodalClassifier: per-modality experts, a joint latent, a classifier."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
import torch.nn.functional as F
from scvi import REGISTRY_KEYS
from scvi.distributions import NegativeBinomial, Poisson
from scvi.module import Classifier
from scvi.module.base import BaseModuleClass, LossOutput, auto_move_data
from scvi.nn import DecoderSCVI, Encoder
from torch import nn
from torch.distributions import Normal, kl_divergence

from scvi_interpret.errors import InvalidArgumentError
from scvi_interpret.nn import (
    binary_poisson_log_prob,
    drop_modalities,
    nb_log_prob,
    product_of_experts,
)

Likelihood = Literal["nb", "poisson", "bernoulli"]


def modality_key(modality: str) -> str:
    """Registry key of a modality's counts, e.g. ``"X_rna"``."""
    return f"X_{modality}"


class MultimodalVAE(BaseModuleClass):
    """One encoder and decoder per modality, a product-of-experts latent, a classifier head.

    Each modality's encoder reads ``log1p`` counts and the batch and proposes a Gaussian over
    the shared latent; the joint posterior is their product with a standard normal prior
    expert, over the modalities a cell has (:func:`~scvi_interpret.nn.product_of_experts`).
    A cell has a modality when its counts there are not all zero. Each decoder maps the latent
    and the batch to that modality's expected counts (observed library size); only modalities
    the cell has enter the reconstruction loss. While training, cells with several modalities
    sometimes hide some of them from the encoders (``modality_dropout``), so each expert
    also learns to place a cell alone and a cell measured in fewer modalities lands where its
    fully measured neighbours do. The classifier reads the posterior mean.

    Parameters
    ----------
    n_features
        Modality name -> number of features, in a fixed order.
    likelihoods
        Modality name -> ``"nb"``, ``"poisson"`` or ``"bernoulli"`` (binary data, e.g.
        binarised ATAC: a peak is open when a Poisson fragment count is ≥ 1,
        :func:`~scvi_interpret.nn.binary_poisson_log_prob`).
    n_batch
        Number of batches.
    n_labels
        Number of classes (the unlabelled category excluded).
    n_latent
        Dimension of the joint latent space.
    n_hidden
        Width of the hidden layers of encoders, decoders and the classifier.
    n_layers
        Hidden layers of encoders and decoders.
    dropout_rate
        Dropout in encoders and the classifier.
    modality_dropout
        Share of multi-modality cells whose encoders see only some of their modalities in a
        training step.
    classification_ratio
        Weight of the classification loss (mean cross-entropy over labelled cells).
    log_frequencies
        Optional modality name -> start value of the decoder's output bias, shape
        (n_features,): log of each feature's mean share of a cell's counts.

    Examples
    --------
    The module behind :class:`~scvi_interpret.model.MultimodalClassifier`; reach it as
    ``model.module``.

    >>> model = si.model.MultimodalClassifier(mdata)
    >>> list(model.module.encoders)  # one encoder per modality
    ['rna', 'protein']
    """

    def __init__(
        self,
        n_features: Mapping[str, int],
        likelihoods: Mapping[str, Likelihood],
        n_batch: int,
        n_labels: int,
        n_latent: int = 20,
        n_hidden: int = 128,
        n_layers: int = 1,
        dropout_rate: float = 0.1,
        modality_dropout: float = 0.3,
        classification_ratio: float = 50.0,
        log_frequencies: Mapping[str, torch.Tensor] | None = None,
    ):
        super().__init__()
        for name, likelihood in likelihoods.items():
            if likelihood not in ("nb", "poisson", "bernoulli"):
                raise InvalidArgumentError(
                    f"likelihood of {name!r} must be 'nb', 'poisson' or 'bernoulli', not "
                    f"{likelihood!r}."
                )
        self.modalities = list(n_features)
        self.likelihoods = dict(likelihoods)
        self.n_batch, self.n_labels, self.n_latent = max(int(n_batch), 1), n_labels, n_latent
        self.modality_dropout = modality_dropout
        self.classification_ratio = classification_ratio
        shared = {"n_layers": n_layers, "n_hidden": n_hidden, "use_batch_norm": False,
                  "use_layer_norm": True}  # fmt: skip
        self.encoders = nn.ModuleDict(
            {
                name: Encoder(
                    size, n_latent, n_cat_list=[self.n_batch], dropout_rate=dropout_rate, **shared
                )
                for name, size in n_features.items()
            }
        )
        self.decoders = nn.ModuleDict(
            {
                name: DecoderSCVI(n_latent, size, n_cat_list=[self.n_batch], **shared)
                for name, size in n_features.items()
            }
        )
        for name, values in (log_frequencies or {}).items():
            self.decoders[name].px_scale_decoder[0].bias.data.copy_(torch.as_tensor(values))
        self.log_theta = nn.ParameterDict(
            {
                name: nn.Parameter(torch.randn(size))
                for name, size in n_features.items()
                if self.likelihoods[name] == "nb"
            }
        )
        self.classifier = Classifier(
            n_latent, n_hidden=n_hidden, n_labels=n_labels, dropout_rate=dropout_rate,
            logits=True, use_batch_norm=False, use_layer_norm=True,
        )  # fmt: skip
        # temperature of the calibrated probabilities (fitted after training, saved)
        self.register_buffer("temperature", torch.ones(()))
        self.is_query = False

    # ----------------------------------------------------------------- inputs
    def _get_inference_input(self, tensors: dict[str, torch.Tensor]) -> dict:
        return {
            "counts": {name: tensors[modality_key(name)] for name in self.modalities},
            "batch_index": tensors[REGISTRY_KEYS.BATCH_KEY],
        }

    def _get_generative_input(self, tensors: dict[str, torch.Tensor], inference_outputs: dict):
        return {
            "z": inference_outputs["z"],
            "library": inference_outputs["library"],
            "batch_index": tensors[REGISTRY_KEYS.BATCH_KEY],
        }

    def present(self, counts: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Which modalities each cell has (non-zero counts), shape (n_cells, n_modalities)."""
        return torch.stack(
            [(counts[name].sum(-1) > 0).float() for name in self.modalities], dim=-1
        )

    # -------------------------------------------------------------- inference
    def encode(
        self,
        log_counts: Mapping[str, torch.Tensor],
        batch_index: torch.Tensor,
        present: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Joint posterior mean and variance from ``log1p`` counts.

        Parameters
        ----------
        log_counts
            Modality name -> ``log1p`` counts, shape (n_cells, n_features).
        batch_index
            Batch codes, shape (n_cells, 1).
        present
            Shape (n_cells, n_modalities): modalities the encoders may use.

        Returns
        -------
        Mean and variance, each of shape (n_cells, n_latent).
        """
        means, variances = [], []
        for name in self.modalities:
            mean, variance, _ = self.encoders[name](log_counts[name], batch_index)
            means.append(mean)
            variances.append(variance)
        return product_of_experts(torch.stack(means), torch.stack(variances), present)

    @auto_move_data
    def inference(
        self,
        counts: dict[str, torch.Tensor],
        batch_index: torch.Tensor,
        present: torch.Tensor | None = None,
        n_samples: int = 1,
    ) -> dict:
        """Joint posterior over the latent.

        Parameters
        ----------
        counts
            Modality name -> counts, shape (n_cells, n_features).
        batch_index
            Batch codes, shape (n_cells, 1).
        present
            Modalities to encode from, shape (n_cells, n_modalities); default those with
            non-zero counts.
        n_samples
            Posterior samples to draw.

        Returns
        -------
        dict with ``qz`` (Normal (n_cells, n_latent)), ``z`` (sample), ``library`` (modality
        name -> log total counts (n_cells, 1)) and ``present`` (the observed modalities).
        """
        observed = self.present(counts) if present is None else present
        used = drop_modalities(observed, self.modality_dropout) if self.training else observed
        log_counts = {name: torch.log1p(x) for name, x in counts.items()}
        mean, variance = self.encode(log_counts, batch_index, used)
        qz = Normal(mean, variance.sqrt())
        z = qz.rsample() if n_samples == 1 else qz.rsample((n_samples,))
        library = {
            name: torch.log(x.sum(-1, keepdim=True).clamp(min=1.0)) for name, x in counts.items()
        }
        return {"qz": qz, "z": z, "library": library, "present": observed}

    # ------------------------------------------------------------- generative
    def scale(self, z: torch.Tensor, batch_index: torch.Tensor, modality: str) -> torch.Tensor:
        """Decoded normalised expression of one modality, shape (n_cells, n_features)."""
        hidden = self.decoders[modality].px_decoder(z, batch_index)
        return self.decoders[modality].px_scale_decoder(hidden)

    @auto_move_data
    def generative(
        self, z: torch.Tensor, library: dict[str, torch.Tensor], batch_index: torch.Tensor
    ) -> dict:
        """Count distributions of every modality given the latent.

        Returns
        -------
        dict with ``px`` (modality name -> distribution over (n_cells, n_features)) and
        ``pz`` (the prior).
        """
        px = {}
        for name in self.modalities:
            rate = torch.exp(library[name]) * self.scale(z, batch_index, name)
            if self.likelihoods[name] == "nb":
                px[name] = NegativeBinomial(mu=rate, theta=torch.exp(self.log_theta[name]))
            else:
                px[name] = Poisson(rate)
        return {"px": px, "pz": Normal(torch.zeros_like(z), torch.ones_like(z))}

    def classify(self, mean: torch.Tensor, calibrated: bool = False) -> torch.Tensor:
        """Class logits from latent means, shape (n_cells, n_labels)."""
        logits = self.classifier(mean)
        return logits / self.temperature if calibrated else logits

    def loss(
        self,
        tensors: dict[str, torch.Tensor],
        inference_outputs: dict,
        generative_outputs: dict,
        kl_weight: float = 1.0,
        classification_ratio: float | None = None,
        labelled_tensors: dict[str, torch.Tensor] | None = None,
    ) -> LossOutput:
        """Negative ELBO over the observed modalities plus the weighted classification loss.

        Parameters
        ----------
        tensors, inference_outputs, generative_outputs
            The minibatch and the module's outputs on it.
        kl_weight
            Weight of the KL term (warm-up).
        classification_ratio
            Weight of the classification loss; default the module's (scvi-tools'
            :class:`~scvi.train.SemiSupervisedTrainingPlan` passes its own).
        labelled_tensors
            A separate minibatch of labelled cells (scvi-tools' semi-supervised data
            splitter); default the labelled cells of ``tensors``.
        """
        if classification_ratio is None:
            classification_ratio = self.classification_ratio
        present = inference_outputs["present"]
        reconstruction = torch.zeros(len(present), device=present.device)
        for i, name in enumerate(self.modalities):
            x = tensors[modality_key(name)]
            px = generative_outputs["px"][name]
            if self.likelihoods[name] == "nb":
                # the per-gene vector, not px.theta (broadcast to every cell): the
                # likelihood then takes log Γ(θ) once per gene
                theta = torch.exp(self.log_theta[name])
                log_likelihood = nb_log_prob(x, px.mu, theta)
            elif self.likelihoods[name] == "bernoulli":  # the Poisson rate, thresholded at 1
                log_likelihood = binary_poisson_log_prob(x, px.rate)
            else:
                log_likelihood = px.log_prob(x)
            reconstruction = reconstruction + present[:, i] * -log_likelihood.sum(-1)
        qz = inference_outputs["qz"]
        kl_z = kl_divergence(qz, generative_outputs["pz"]).sum(-1)
        loss = torch.mean(reconstruction + kl_weight * kl_z)
        mean = qz.loc
        if labelled_tensors is not None and labelled_tensors is not tensors:
            tensors = labelled_tensors
            mean = self.inference(**self._get_inference_input(tensors))["qz"].loc
        labels = tensors[REGISTRY_KEYS.LABELS_KEY].reshape(-1).long()
        labelled = labels < self.n_labels
        logits = self.classify(mean)
        classification = torch.zeros((), device=loss.device)
        if bool(labelled.any()):
            classification = F.cross_entropy(logits[labelled], labels[labelled])
            loss = loss + classification_ratio * classification
        return LossOutput(
            loss=loss,
            reconstruction_loss=reconstruction,
            kl_local={"kl_divergence_z": kl_z},
            classification_loss=classification,
            logits=logits[labelled].detach(),
            true_labels=labels[labelled],
        )
