"""The encoders' first linear layers, split off for the fast path of expected gradients."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from scvi_interpret.tl import LinearInput


class _GivenFeatureTerm(nn.Linear):
    """Stands in for an encoder's first ``nn.Linear``: its feature term is given.

    scvi-tools' ``FCLayers`` concatenates the covariates' one-hot columns to the features
    before its first ``nn.Linear``; with the features given as zero columns, this layer
    receives the one-hot columns only and returns ``given + W_covariates @ one_hot + bias``.
    """

    def __init__(self, linear: nn.Linear, n_features: int, given: torch.Tensor):
        nn.Module.__init__(self)  # no weights of its own: it reads those of ``linear``
        self.linear, self.n_features, self.given = linear, n_features, given

    def forward(self, covariates: torch.Tensor) -> torch.Tensor:
        """Pre-activation from the given feature term and the covariates' one-hot columns."""
        weight = self.linear.weight[:, self.n_features :]
        return self.given + F.linear(covariates, weight, self.linear.bias)


def _first_linear(module, modality: str) -> tuple[nn.Sequential, nn.Linear]:
    first = module.encoders[modality].encoder.fc_layers[0]
    return first, first[0]


@contextmanager
def given_feature_terms(
    module, terms: Mapping[str, torch.Tensor], sizes: Mapping[str, int]
) -> Iterator[None]:
    """Within the block, the named encoders take their first layer's feature term as given."""
    originals = {}
    try:
        for modality, term in terms.items():
            first, linear = _first_linear(module, modality)
            originals[modality] = linear
            first[0] = _GivenFeatureTerm(linear, sizes[modality], term)
        yield
    finally:
        for modality, linear in originals.items():
            _first_linear(module, modality)[0][0] = linear


def first_layers(
    module, attributed: list[str], sizes: Mapping[str, int], explained_from: Callable
) -> LinearInput | None:
    """The attributed encoders' first layers as a :class:`~scvi_interpret.tl.LinearInput`.

    ``explained_from(log_counts, batch_index, present, **held)`` is the explained function on
    a dict of per-modality inputs; ``None`` when an encoder does not start with a linear layer.
    """
    blocks, offset = [], 0
    for modality in attributed:
        _, linear = _first_linear(module, modality)
        if not isinstance(linear, nn.Linear):
            return None
        blocks.append(
            (slice(offset, offset + sizes[modality]), linear.weight[:, : sizes[modality]])
        )
        offset += sizes[modality]
    widths = [weight.shape[0] for _, weight in blocks]

    def rest(hidden: torch.Tensor, batch_index, present, **held) -> torch.Tensor:
        terms = dict(zip(attributed, torch.split(hidden, widths, dim=1), strict=True))
        empty = {m: hidden.new_zeros(len(hidden), 0) for m in attributed}
        with given_feature_terms(module, terms, sizes):
            return explained_from(empty, batch_index, present, **held)

    return LinearInput(blocks, rest)
