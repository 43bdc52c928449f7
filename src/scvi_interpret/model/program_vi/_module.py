"""Torch module of ProgramVI: LinearVAE whose decoder is masked by gene programs."""

from __future__ import annotations

import torch
from torch import nn

from scvi_interpret.model.linear_vi import LinearVAE
from scvi_interpret.nn import MaskedLinear, group_soft_threshold_, soft_threshold_


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
        step_size: float | torch.Tensor,
        soft_mask_l1: float,
        group_lasso: float,
        unconstrained_l1: float,
    ) -> None:
        """Apply the sparsity penalties' proximal operators to the decoder weights, in place.

        Parameters
        ----------
        step_size
            The optimiser's step size for each decoder weight, shape (n_input, n_latent), or
            one number. With Adam it is ``lr / (sqrt(v_hat) + eps)``, so that each penalty is
            measured in units of the loss gradient (proximal Adam).
        soft_mask_l1
            L1 strength on weights outside a program (soft mask only).
        group_lasso
            Group-lasso strength per latent node (column).
        unconstrained_l1
            L1 strength on the unconstrained nodes' weights.

        All three strengths are multiplied by ``penalty_scale``.
        """
        scale = float(self.penalty_scale)
        soft_mask_l1, group_lasso = soft_mask_l1 * scale, group_lasso * scale
        unconstrained_l1 = unconstrained_l1 * scale
        layer: MaskedLinear = self.decoder.factor_loadings
        weight, mask = layer.weight, layer.mask
        step = torch.as_tensor(step_size, dtype=weight.dtype, device=weight.device)
        step = step.expand_as(weight)
        nodes = self.prox_nodes.to(weight.device)
        unconstrained = self.unconstrained_nodes().to(weight.device) & nodes
        if self.soft_mask and soft_mask_l1 > 0:
            outside = ~mask & (nodes & ~unconstrained)[None, :]
            soft_threshold_(weight, outside, step * soft_mask_l1)
        if unconstrained_l1 > 0 and unconstrained.any():
            soft_threshold_(
                weight, unconstrained[None, :].expand_as(weight), step * unconstrained_l1
            )
        if group_lasso > 0:
            # one step per program: the mean over its own genes, whatever the soft mask lets
            # in. Unconstrained nodes have their own (L1) penalty instead.
            column_step = (step * mask).sum(0) / mask.sum(0).clamp_min(1)
            group_soft_threshold_(weight, nodes & ~unconstrained, column_step * group_lasso)

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
        _train_columns_from(new_layer.weight, n_old)
        self.decoder.factor_loadings = new_layer
        if self.decoder.zero_inflation is not None:
            self.decoder.zero_inflation = _grow_columns(self.decoder.zero_inflation, n_new, n_old)
        self.n_latent = n_old + n_new
        self.n_unconstrained += n_new
        self.prox_nodes = torch.cat(
            [torch.zeros(n_old, dtype=torch.bool), torch.ones(n_new, dtype=torch.bool)]
        )


def _train_columns_from(weight: nn.Parameter, start: int) -> None:
    weight.requires_grad_(True)

    def hook(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        grad[:, :start] = 0.0
        return grad

    weight.register_hook(hook)


def _grow_rows(layer: nn.Linear, n_new: int, n_old: int) -> nn.Linear:
    grown = nn.Linear(layer.in_features, layer.out_features + n_new).to(layer.weight.device)
    with torch.no_grad():
        grown.weight[:n_old] = layer.weight
        grown.bias[:n_old] = layer.bias
    for param in (grown.weight, grown.bias):
        param.requires_grad_(True)

        def hook(grad: torch.Tensor) -> torch.Tensor:
            grad = grad.clone()
            grad[:n_old] = 0.0
            return grad

        param.register_hook(hook)
    return grown


def _grow_columns(layer: nn.Linear, n_new: int, n_old: int) -> nn.Linear:
    grown = nn.Linear(layer.in_features + n_new, layer.out_features).to(layer.weight.device)
    with torch.no_grad():
        grown.weight.zero_()
        grown.weight[:, :n_old] = layer.weight
        grown.bias.copy_(layer.bias)
    grown.bias.requires_grad_(False)
    _train_columns_from(grown.weight, n_old)
    return grown
