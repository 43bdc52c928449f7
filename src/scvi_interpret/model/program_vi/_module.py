"""Torch module of ProgramVI: LinearVAE whose decoder is masked by gene programs."""

from __future__ import annotations

import torch
from torch import nn

from scvi_interpret.model.linear_vi import LinearVAE
from scvi_interpret.nn import (
    MaskedLinear,
    StepSizes,
    group_soft_threshold_,
    soft_threshold_,
    train_only_beyond,
)


class ProgramVAE(LinearVAE):
    """LinearVAE with one latent node per gene program and proximal sparsity steps.

    Latent nodes ``0 … n_programs-1`` act only on their program's genes (hard mask) or are
    L1-penalised outside them (soft mask); the last ``n_unconstrained`` nodes act on all genes.
    :meth:`proximal_step` applies, after each optimiser step, the group lasso over program
    nodes (whole columns become exactly zero: the program is off), the L1 penalty on
    out-of-program weights (soft mask) and the L1 penalty on unconstrained nodes.

    Parameters
    ----------
    program_mask
        Boolean tensor of shape (n_input, n_programs + n_unconstrained); the unconstrained
        columns are all ``True``.
    n_unconstrained
        Number of unconstrained nodes (the last columns of ``program_mask``).
    soft_mask
        Soft instead of hard mask.
    **kwargs
        Passed to :class:`~scvi_interpret.model.LinearVAE` (``n_latent`` is set from the mask).

    Examples
    --------
    The module behind :class:`~scvi_interpret.model.ProgramVI`; reach it as ``model.module``.

    >>> model = si.model.ProgramVI(adata, gene_programs=mask)
    >>> model.module.decoder.loadings().shape  # genes × program nodes
    """

    def __init__(
        self,
        program_mask: torch.Tensor,
        n_unconstrained: int = 0,
        soft_mask: bool = False,
        **kwargs,
    ):
        program_mask = torch.as_tensor(program_mask, dtype=torch.bool)
        kwargs["n_latent"] = program_mask.shape[1]
        super().__init__(program_mask=program_mask, soft_mask=soft_mask, **kwargs)
        self.n_unconstrained = n_unconstrained
        self.soft_mask = soft_mask
        # penalties are in units of this: the data's mean count per gene and cell
        self.register_buffer("penalty_scale", torch.tensor(1.0))
        # nodes the proximal step may change (all, except frozen reference nodes of a query)
        self.prox_nodes = torch.ones(program_mask.shape[1], dtype=torch.bool)

    @property
    def n_programs(self) -> int:
        """Number of prior programs (latent nodes bound to a gene set)."""
        return self.n_latent - self.n_unconstrained

    def unconstrained_nodes(self) -> torch.Tensor:
        """Boolean tensor (n_latent,): which nodes are unconstrained."""
        flags = torch.zeros(self.n_latent, dtype=torch.bool)
        flags[self.n_programs :] = True
        return flags

    @torch.no_grad()
    def proximal_step(
        self,
        step_sizes: StepSizes | float,
        soft_mask_l1: float,
        group_lasso: float,
        unconstrained_l1: float,
    ) -> None:
        """Apply the sparsity penalties' proximal operators to the decoder weights, in place.

        Parameters
        ----------
        step_sizes
            The optimiser's step size for each decoder weight
            (:class:`~scvi_interpret.nn.StepSizes`, Adam's ``lr / (sqrt(v_hat) + eps)``: each
            penalty is then measured in units of the loss gradient, proximal Adam), or one
            learning rate for all.
        soft_mask_l1
            L1 strength on weights outside a program (soft mask only).
        group_lasso
            Group-lasso strength per program node (column).
        unconstrained_l1
            L1 strength on the unconstrained nodes' weights.

        All three strengths are multiplied by ``penalty_scale``.
        """
        if not isinstance(step_sizes, StepSizes):
            step_sizes = StepSizes(float(step_sizes))
        scale = float(self.penalty_scale)
        layer: MaskedLinear = self.decoder.factor_loadings
        weight, mask = layer.weight, layer.mask
        nodes = self.prox_nodes.to(weight.device)
        is_unconstrained = self.unconstrained_nodes().to(weight.device)
        unconstrained, programs = nodes & is_unconstrained, nodes & ~is_unconstrained
        soft = self.soft_mask and soft_mask_l1 > 0 and bool(programs.any())
        sparse_new = unconstrained_l1 > 0 and bool(unconstrained.any())
        step = step_sizes.everywhere(weight) if soft or sparse_new else None
        if soft:
            outside = ~mask & programs[None, :]
            soft_threshold_(weight, outside, step * (soft_mask_l1 * scale))
        if sparse_new:
            columns = unconstrained[None, :].expand_as(weight)
            soft_threshold_(weight, columns, step * (unconstrained_l1 * scale))
        if group_lasso > 0 and programs.any():
            # one step per program: the mean over its own genes, whatever the soft mask lets in
            flat, column_of, program_size = self._mask_positions(mask)
            sums = torch.zeros(weight.shape[1], dtype=weight.dtype, device=weight.device)
            sums.index_add_(0, column_of, step_sizes.at(flat, weight))
            column_step = sums / program_size
            group_soft_threshold_(weight, programs, column_step * (group_lasso * scale))

    def _mask_positions(
        self, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flat positions of the mask's entries, their columns, and genes per column.

        Cached until the mask changes (it is replaced when nodes are added).
        """
        cached = getattr(self, "_mask_positions_cache", None)
        if cached is None or cached[0] is not mask:
            flat = torch.nonzero(mask.reshape(-1), as_tuple=True)[0]
            column_of = flat % mask.shape[1]
            sizes = torch.bincount(column_of, minlength=mask.shape[1]).clamp_min(1)
            cached = (mask, flat, column_of, sizes.to(torch.float32))
            self._mask_positions_cache = cached
        return cached[1:]

    @torch.no_grad()
    def add_latent_nodes(self, n_new: int) -> None:
        """Append ``n_new`` unconstrained nodes that alone learn (query mapping).

        The encoder's mean/variance heads and the decoder's loadings grow by ``n_new``; the
        existing nodes keep their weights and stop changing (their gradients are zeroed and the
        proximal step skips them).

        Parameters
        ----------
        n_new
            Number of nodes to add.
        """
        if n_new <= 0:
            return
        n_old = self.n_latent
        encoder = self.z_encoder
        for name in ("mean_encoder", "var_encoder"):
            setattr(encoder, name, _grow_rows(getattr(encoder, name), n_new, n_old))
        old_layer: MaskedLinear = self.decoder.factor_loadings
        mask = torch.cat(
            [
                old_layer.mask,
                torch.ones(
                    old_layer.mask.shape[0], n_new, dtype=torch.bool, device=old_layer.mask.device
                ),
            ],
            dim=1,
        )
        new_layer = MaskedLinear(mask, soft=old_layer.soft).to(old_layer.weight.device)
        new_layer.weight[:, :n_old] = old_layer.weight
        new_layer.weight[:, n_old:] *= 0.1
        train_only_beyond(new_layer.weight, n_old, dim=1)
        self.decoder.factor_loadings = new_layer
        if self.decoder.zero_inflation is not None:
            self.decoder.zero_inflation = _grow_columns(self.decoder.zero_inflation, n_new, n_old)
        self.n_latent = n_old + n_new
        self.n_unconstrained += n_new
        self.prox_nodes = torch.cat(
            [torch.zeros(n_old, dtype=torch.bool), torch.ones(n_new, dtype=torch.bool)]
        )


def _grow_rows(layer: nn.Linear, n_new: int, n_old: int) -> nn.Linear:
    grown = nn.Linear(layer.in_features, layer.out_features + n_new).to(layer.weight.device)
    with torch.no_grad():
        grown.weight[:n_old] = layer.weight
        grown.bias[:n_old] = layer.bias
    for param in (grown.weight, grown.bias):
        train_only_beyond(param, n_old, dim=0)
    return grown


def _grow_columns(layer: nn.Linear, n_new: int, n_old: int) -> nn.Linear:
    grown = nn.Linear(layer.in_features + n_new, layer.out_features).to(layer.weight.device)
    with torch.no_grad():
        grown.weight.zero_()
        grown.weight[:, :n_old] = layer.weight
        grown.bias.copy_(layer.bias)
    grown.bias.requires_grad_(False)
    train_only_beyond(grown.weight, n_old, dim=1)
    return grown
