"""Interpretability adapters of MultimodalClassifier: class and cross-modal targets."""

from __future__ import annotations

import numpy as np
import torch
from scvi import REGISTRY_KEYS

from scvi_interpret.errors import InvalidArgumentError, UnknownNameError
from scvi_interpret.model.base import InterpretabilityMixin
from scvi_interpret.model.base._importance_sample import run_pool
from scvi_interpret.model.base._interpretability import (
    PER_CELL_TARGET,
    AttributionPlan,
    check_input_space,
    check_modalities,
)
from scvi_interpret.model.base._names import as_name_list
from scvi_interpret.model.base._validation import row_totals

from ._first_layers import first_layers
from ._module import modality_key

# decoded features are explained as log1p of the expression per this many counts
DECODED_SCALE = 1e4


class MultimodalInterpretabilityMixin(InterpretabilityMixin):
    """:class:`InterpretabilityMixin` over several modalities.

    Targets of :meth:`get_feature_importance`:

    - class names: the log odds ``log p / (1 - p)`` of the calibrated class probability
      (``output="log_odds"``, default) or the probability itself (``output="probability"``);
      by default (``target=None``) each cell explains its own predicted class, and the
      table's rows for a class average over the cells predicted as that class. Log odds
      change smoothly along the paths of expected gradients, so their SHAP values add up
      (median additivity error about 1 %); a probability saturates at 0 and 1, which makes
      the path integral, and so the additivity, much noisier;
    - ``"<modality>:<feature>"`` (e.g. ``"protein:CD14"``): a decoded feature of one
      modality, ``log1p`` of its expression per 10,000 counts, explained by the inputs of
      the other modalities (the encoders do not see the target's own modality: a cross-modal
      prediction).

    Modalities not in ``modalities`` are held at each cell's own values, like covariates. A
    modality a cell was not measured in is masked out of the encoders, so its features get
    exactly zero attribution in that cell, and the base value is the background's output
    seen through the same modalities. The background is drawn from cells measured in every
    attributed modality.
    """

    # ------------------------------------------------------------- targets
    def _parse_targets(self, target, modalities) -> tuple[str | None, list[int], list[str]]:
        """(decoded modality or None, target positions, attributed modalities)."""
        classes = self.class_names
        available = list(self.modalities)
        if target is None:
            return (
                None,
                list(range(len(classes))),
                check_modalities(modalities, available, self.modalities),
            )
        wanted = as_name_list(target, classes, "target")
        if all(name in classes for name in wanted):
            positions = [classes.index(name) for name in wanted]
            return None, positions, check_modalities(modalities, available, self.modalities)
        decoded = [name.split(":", 1) for name in wanted if ":" in name]
        decoded_modalities = {m for m, _ in decoded}
        if len(decoded) != len(wanted) or len(decoded_modalities) != 1:
            unknown = [n for n in wanted if n not in classes and ":" not in n]
            raise UnknownNameError(
                f"Unknown target(s) {unknown or wanted}: give class names (e.g. "
                f"{classes[:3]}) or decoded features of one modality as '<modality>:<feature>' "
                f"(e.g. '{available[-1]}:{self._features(available[-1])[0]}'), not both."
            )
        (modality,) = decoded_modalities
        by_key = {key: name for name, key in self.modalities.items()}
        if modality not in available and modality in by_key:  # the MuData key, e.g. "adt"
            modality = by_key[modality]
        if modality not in available:
            raise UnknownNameError(
                f"Target modality {modality!r} is not one of the model's {available} "
                f"(MuData keys: {self.modalities})."
            )
        features = self._features(modality)
        missing = [f for _, f in decoded if f not in features]
        if missing:
            raise UnknownNameError(
                f"Features {missing} are not features of modality {modality!r}."
            )
        others = [m for m in available if m != modality]
        if not others:
            raise InvalidArgumentError(
                "A decoded feature is explained by the other modalities; this model has one."
            )
        attributed = (
            check_modalities(modalities, others, self.modalities)
            if modalities is not None
            else others
        )
        return modality, [features.index(f) for _, f in decoded], attributed

    # --------------------------------------------------------------- plan
    def _attribution_plan(self, target, modalities, input_space, output=None) -> AttributionPlan:
        check_input_space(input_space)
        decoded, positions, attributed = self._parse_targets(target, modalities)
        output = _check_output(output, decoded)
        module = self.module
        order = module.modalities
        sizes = {m: len(self._features(m)) for m in order}
        columns = torch.as_tensor(positions, device=self.device)

        def explained_from(log_counts, batch_index, present, **held):
            n_rows, device = len(batch_index), batch_index.device
            for name in order:
                if name not in log_counts:
                    log_counts[name] = held.get(name, torch.zeros(
                        n_rows, sizes[name], device=device))  # fmt: skip
            mean, _ = module.encode(log_counts, batch_index, present)
            if decoded is None:
                logits = module.classify(mean, calibrated=True)
                probability = output == "probability"
                values = torch.softmax(logits, -1) if probability else _log_odds(logits)
                return values if target is None else values[:, columns]
            scale = module.scale(mean, batch_index, decoded).index_select(1, columns)
            return torch.log1p(scale * DECODED_SCALE)

        def explained(log_inputs, batch_index, present, **held):
            parts = torch.split(log_inputs, [sizes[m] for m in attributed], dim=1)
            log_counts = dict(zip(attributed, parts, strict=True))
            return explained_from(log_counts, batch_index, present, **held)

        linear_input = None
        if input_space == "counts":

            def function(x, **extra):
                return explained(torch.log1p(x), **extra)
        else:
            function = explained
            linear_input = first_layers(module, attributed, sizes, explained_from)

        def inputs(cells, indices, batch_size):
            for tensors in cells.batches(indices, batch_size):
                counts = {m: tensors[modality_key(m)].to(self.device) for m in order}
                batch_index = tensors[REGISTRY_KEYS.BATCH_KEY].to(self.device)
                present = module.present(counts)
                logs = {m: torch.log1p(x) for m, x in counts.items()}
                extra = {"batch_index": batch_index}
                if decoded is not None:
                    present[:, order.index(decoded)] = 0.0
                extra["present"] = present
                for name in order:
                    if name not in attributed and name != decoded:
                        extra[name] = logs[name]
                if target is None:
                    with torch.no_grad():
                        mean, _ = module.encode(logs, batch_index, present)
                        extra[PER_CELL_TARGET] = module.classify(mean).argmax(-1)
                joined = torch.cat([logs[m] if input_space == "log1p" else counts[m]
                                    for m in attributed], dim=1)  # fmt: skip
                yield joined, extra

        if decoded is None:
            names = [self.class_names[i] for i in positions]
        else:
            features = self._features(decoded)
            names = [f"{decoded}:{features[i]}" for i in positions]
        features, feature_modalities = [], []
        for m in attributed:
            features += self._features(m)
            feature_modalities += [m] * sizes[m]
        return AttributionPlan(names, function, inputs, features, feature_modalities,
                               per_cell_target=target is None,
                               linear_input=linear_input)  # fmt: skip

    def _background_pool(self, cells, n_background: int, seed: int) -> np.ndarray:
        """Cells measured in every modality (all cells if there are none).

        In memory every cell is checked; on disk (a data module), about ``50 × n_background``
        cells in random runs of consecutive cells are read and checked, so the cost does not
        grow with cells.
        """
        if cells.adata is not None:
            manager = self.get_anndata_manager(cells.adata, required=True)
            complete = np.ones(cells.n_obs, dtype=bool)
            for name in self.module.modalities:
                complete &= row_totals(manager.get_from_registry(modality_key(name))) > 0
            candidates = np.arange(cells.n_obs)
        else:
            rng = np.random.default_rng(seed)
            candidates = run_pool(cells.n_obs, min(cells.n_obs, 50 * n_background), rng)
            complete = np.concatenate([
                np.all([tensors[modality_key(m)].sum(1).numpy() > 0
                        for m in self.module.modalities], axis=0)
                for tensors in cells.batches(candidates, 1024)
            ])  # fmt: skip
        pool = candidates[complete]
        return pool if len(pool) else candidates

    def _modality_adata(self, adata, modality: str):
        return adata.mod[self.modalities[modality]]

    def _explained_layers(self) -> torch.nn.Module:
        return self.module

    # ---------------------------------------------- traversal and archetypes
    def _latent_names(self) -> list[str]:
        return [f"latent_{i}" for i in range(self.module.n_latent)]

    def _decode(self, z: torch.Tensor, reference: dict) -> dict[str, torch.Tensor]:
        categorical, _ = self._expand_covariates(reference, len(z))
        batch = categorical[0].long()
        return {m: self.module.scale(z, batch, m) for m in self.module.modalities}

    def _feature_names(self, adata) -> dict[str, list[str]]:
        return {m: self._features(m) for m in self.modalities}


CLASS_OUTPUTS = ("log_odds", "probability")


def _check_output(output: str | None, decoded: str | None) -> str | None:
    if decoded is not None:
        if output not in (None, "log1p_expression"):
            raise InvalidArgumentError(
                "A decoded feature is explained as its log1p expression per 10,000 counts; "
                f"output={output!r} applies to class targets only."
            )
        return "log1p_expression"
    output = "log_odds" if output is None else output
    if output not in CLASS_OUTPUTS:
        raise InvalidArgumentError(
            f"output must be one of {CLASS_OUTPUTS} for classes, not {output!r}."
        )
    return output


def _log_odds(logits: torch.Tensor) -> torch.Tensor:
    """Log odds ``log p_k - log(1 - p_k)`` of a softmax, finite even where p_k rounds to 1.

    ``log(1 - p_k) = logsumexp_{j != k} logit_j - logsumexp_j logit_j``, so the log odds are
    ``logit_k - logsumexp_{j != k} logit_j``. Shape (n_cells, n_classes) in and out.
    """
    n_classes = logits.shape[-1]
    eye = torch.eye(n_classes, dtype=torch.bool, device=logits.device)
    others = logits.unsqueeze(-2).masked_fill(eye, float("-inf"))  # (n, class k, class j)
    return logits - torch.logsumexp(others, dim=-1)
