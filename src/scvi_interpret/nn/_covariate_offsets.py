"""Per-feature offsets for batch and covariates, kept apart from the latent factors."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from scvi_interpret.errors import InvalidArgumentError

from ._freeze import train_only_beyond


class CovariateOffsets(nn.Module):
    """Additive per-feature terms for categorical and continuous covariates.

    Each categorical covariate (the batch first) owns an embedding table of shape
    (n_categories, n_output): a category's row is added to the decoder's logits. Continuous
    covariates enter through one bias-free linear map. Because the categories of a query
    are appended after the reference's, scvi-tools' ``ArchesMixin`` extends each table by
    rows, and :meth:`train_new_categories_only` lets only those rows learn.

    Parameters
    ----------
    n_output
        Number of output features (genes).
    n_cats_per_cov
        Number of categories of each categorical covariate, the batch first.
    n_continuous
        Number of continuous covariates.

    Examples
    --------
    >>> offsets = si.nn.CovariateOffsets(n_output=100, n_cats_per_cov=[3], n_continuous=1)
    >>> out = offsets([torch.tensor([[0], [2]])], torch.tensor([[0.5], [1.0]]))
    >>> out.shape  # cells × genes, added to the decoder's log-rates
    torch.Size([2, 100])
    """

    def __init__(self, n_output: int, n_cats_per_cov: Sequence[int] = (), n_continuous: int = 0):
        super().__init__()
        self.categorical = nn.ModuleList(nn.Embedding(n, n_output) for n in n_cats_per_cov)
        for table in self.categorical:
            nn.init.zeros_(table.weight)
        self.continuous = nn.Linear(n_continuous, n_output, bias=False) if n_continuous else None
        if self.continuous is not None:
            nn.init.zeros_(self.continuous.weight)

    def forward(
        self, categorical: Sequence[torch.Tensor] = (), continuous: torch.Tensor | None = None
    ) -> torch.Tensor | float:
        """Sum of the covariate terms.

        Parameters
        ----------
        categorical
            One integer tensor of shape (n_cells, 1) per categorical covariate, in the order
            of ``n_cats_per_cov``.
        continuous
            Tensor of shape (n_cells, n_continuous), or ``None``.

        Returns
        -------
        Tensor of shape (n_cells, n_output), or ``0.0`` when there is no covariate.
        """
        if len(categorical) != len(self.categorical):
            raise InvalidArgumentError(
                f"Expected {len(self.categorical)} categorical covariate(s), "
                f"got {len(categorical)}."
            )
        total: torch.Tensor | float = 0.0
        for table, codes in zip(self.categorical, categorical, strict=True):
            total = total + table(codes.reshape(-1).long())
        if self.continuous is not None:
            total = total + self.continuous(continuous)
        return total

    def train_new_categories_only(self, n_reference: Sequence[int]) -> None:
        """Let only the rows of categories beyond the reference's learn (query mapping).

        Parameters
        ----------
        n_reference
            Number of reference categories per categorical covariate.
        """
        for table, n_ref in zip(self.categorical, n_reference, strict=True):
            if table.num_embeddings <= n_ref:
                table.weight.requires_grad_(False)
                continue
            train_only_beyond(table.weight, int(n_ref), dim=0)
        if self.continuous is not None:
            self.continuous.weight.requires_grad_(False)
