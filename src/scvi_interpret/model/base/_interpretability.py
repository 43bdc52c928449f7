"""InterpretabilityMixin: SHAP feature importance on every scvi-interpret model."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from scvi import REGISTRY_KEYS

from scvi_interpret.errors import CellIndexError, InvalidArgumentError, UnknownNameError
from scvi_interpret.tl import (
    AttributionSums,
    LinearInput,
    check_sample_size,
    expected_gradients,
    modality_share,
    stratified_background,
)
from scvi_interpret.tl._attribution import attribution_from_sums

from ._cells import Cells, CellsMixin, as_positions
from ._hyperparameters import check_hyperparameters
from ._importance_sample import SamplePlan, bootstrap_replicates, plan_sample
from ._names import resolve_names
from ._store import store_array, store_settings
from ._traversal_archetypes import LatentExplorationMixin
from ._trust import AttributionTrustMixin

INPUT_SPACES = ("log1p", "counts")
PER_CELL_TARGET = "target_index"


@dataclass
class AttributionPlan:
    """What one attribution call explains, and on which inputs.

    Attributes
    ----------
    targets
        Names of the explained function's outputs.
    function
        Differentiable map from inputs (n_cells, n_features), in the chosen input space, plus
        per-cell keyword tensors, to outputs (n_cells, n_targets).
    inputs
        ``inputs(cells, indices, batch_size)`` yields ``(x, extra)`` minibatches in that space
        (``cells``: a :class:`~scvi_interpret.model.base._cells.Cells`);
        ``extra`` holds the per-cell keyword tensors of ``function`` (and, when
        ``per_cell_target``, the output to explain for each cell under ``"target_index"``).
    features
        Name of each input column.
    modalities
        Modality of each input column.
    per_cell_target
        Each cell explains one output, its own (e.g. its predicted class).
    linear_input
        When ``function`` starts with linear maps of its inputs: those maps and the rest, for
        the fast path of :func:`~scvi_interpret.tl.expected_gradients`.
    """

    targets: list[str]
    function: Callable[..., torch.Tensor]
    inputs: Callable[[Cells, np.ndarray, int], Iterator[tuple[torch.Tensor, dict]]]
    features: list[str]
    modalities: list[str]
    per_cell_target: bool = False
    linear_input: LinearInput | None = None

    def modality_columns(self) -> dict[str, np.ndarray]:
        """Modality -> positions of its columns in the inputs."""
        modalities = np.asarray(self.modalities)
        return {m: np.flatnonzero(modalities == m) for m in dict.fromkeys(self.modalities)}


class InterpretabilityMixin(AttributionTrustMixin, LatentExplorationMixin, CellsMixin):
    """The shared interpretability calls: feature importance, latent traversal, archetypes.

    :meth:`get_feature_importance` is defined here; :meth:`deletion_curve` and
    :meth:`randomization_check` come from :class:`AttributionTrustMixin`,
    :meth:`latent_traversal` and :meth:`get_archetypes` from :class:`LatentExplorationMixin`.

    A single-modality model provides ``_attribution_targets()`` (names of what can be
    explained) and ``_attribution_function(targets)`` (a differentiable map from the counts the
    model reads to those targets); a multimodal model overrides :meth:`_attribution_plan`.
    The estimation itself is :func:`scvi_interpret.tl.expected_gradients`.
    """

    _attribution_modality = "rna"

    # ------------------------------------------------------------ adapters
    def _attribution_targets(self) -> list[str]:
        raise NotImplementedError

    def _attribution_function(self, targets: list[int]) -> Callable[..., torch.Tensor]:
        raise NotImplementedError

    def _attribution_inputs(
        self, cells: Cells, indices: Sequence[int], batch_size: int
    ) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """Minibatches ``(counts, covariates)`` on the model's device."""
        for tensors in cells.batches(indices, batch_size):
            extra = {"batch_index": tensors[REGISTRY_KEYS.BATCH_KEY].to(self.device)}
            cont = tensors.get(REGISTRY_KEYS.CONT_COVS_KEY)
            if cont is not None:
                extra["cont_covs"] = cont.to(self.device)
            yield tensors[REGISTRY_KEYS.X_KEY].to(self.device), extra

    def _attribution_plan(
        self,
        target: str | Sequence[str] | None,
        modalities: str | Sequence[str] | None,
        input_space: str,
        output: str | None = None,
    ) -> AttributionPlan:
        """The plan of a single-modality model: its targets on its genes."""
        check_input_space(input_space)
        if output is not None:
            raise InvalidArgumentError(
                f"output={output!r}: this model's targets have one output (the posterior "
                "mean); leave output=None."
            )
        modality = self._attribution_modality
        check_modalities(modalities, [modality])
        names = self._attribution_targets()
        chosen = resolve_names(target, names, "target")
        explained = self._attribution_function(chosen)
        features = list(self.feature_names)
        if input_space == "counts":
            function, transform = explained, (lambda x: x)
        else:

            def function(log_counts, **covariates):
                return explained(torch.expm1(log_counts), **covariates)

            transform = torch.log1p

        def inputs(cells, indices, batch_size):
            for x, extra in self._attribution_inputs(cells, indices, batch_size):
                yield transform(x), extra

        return AttributionPlan([names[i] for i in chosen], function, inputs, features,
                               [modality] * len(features))  # fmt: skip

    def _background_pool(self, cells: Cells, n_background: int, seed: int) -> np.ndarray:
        """Cells the background is drawn from (all by default)."""
        return np.arange(cells.n_obs)

    def _background(
        self, cells: Cells, plan: AttributionPlan, n_background: int, seed: int
    ) -> torch.Tensor:
        """Background inputs (n_background, n_features), stratified by the labels."""
        pool = self._background_pool(cells, n_background, seed)
        labels = self._background_labels(cells)
        picks = stratified_background(
            None if labels is None else labels[pool], len(pool), n_background, seed
        )
        return torch.cat([x for x, _ in plan.inputs(cells, pool[picks], len(picks))])

    def _attribute(
        self, cells: Cells, indices, plan: AttributionPlan, n_background, n_samples, batch_size,
        seed, keep_values,
    ):  # fmt: skip
        """Run expected gradients for a plan; returns the result and the background."""
        background = self._background(cells, plan, n_background, seed)
        with self._eval_mode():
            result = expected_gradients(
                plan.function,
                plan.inputs(cells, indices, batch_size),
                background,
                targets=plan.targets,
                features=plan.features,
                n_samples=n_samples,
                seed=seed,
                keep_values=keep_values,
                target_key=PER_CELL_TARGET if plan.per_cell_target else None,
                linear_input=plan.linear_input,
            )
        return result, background

    def _attribute_sample(
        self, cells: Cells, sample: SamplePlan, plan: AttributionPlan, n_background, n_samples,
        batch_size, seed, keep_values, top_k: int, stability: float,
    ):  # fmt: skip
        """Expected gradients over a sample grown in rounds; returns the result and a summary.

        One background for all rounds; each round adds its cells to the same sums and, when
        the sample is adaptive, stops once every explained target's top ``top_k`` is stable
        under a bootstrap over the cells (mean share kept ≥ ``stability``).
        """
        n_targets, n_features = len(plan.targets), len(plan.features)
        sums = AttributionSums(n_targets, n_features, plan.per_cell_target,
                               bootstrap_replicates(n_targets, n_features), seed, self.device,
                               keep_values)  # fmt: skip
        background = self._background(cells, plan, n_background, seed)
        kept = np.zeros(n_targets)
        for round_number, positions in sample.rounds():
            with self._eval_mode():
                result = expected_gradients(
                    plan.function, plan.inputs(cells, positions, batch_size), background,
                    targets=plan.targets, features=plan.features, n_samples=n_samples,
                    seed=seed + round_number,
                    target_key=PER_CELL_TARGET if plan.per_cell_target else None, sums=sums,
                    linear_input=plan.linear_input, rank_intervals=False,
                )  # fmt: skip
            kept = sums.top_k_stability(top_k)
            if sample.adaptive and kept[result.explained_targets].min() >= stability:
                break
        result = attribution_from_sums(sums, plan.targets, plan.features)  # with rank intervals
        explained = result.explained_targets
        stabilities = {t: float(v) for t, v, e in zip(plan.targets, kept, explained, strict=True)
                       if e}  # fmt: skip
        summary = {
            "n_cells": result.n_cells,
            "n_available": cells.n_obs,
            "strata": sample.strata,
            "pool": sample.pool,
            "n_rounds": round_number + 1,
            "adaptive": sample.adaptive,
            "top_k": top_k,
            "top_k_stability": stabilities,
            "stable": bool(min(stabilities.values()) >= stability),
        }
        return result, summary

    @contextmanager
    def _eval_mode(self):
        """Run with the module in eval mode (no dropout), then restore its mode."""
        was_training = self.module.training
        self.module.eval()
        try:
            yield
        finally:
            self.module.train(was_training)

    # ---------------------------------------------------------------- public
    def get_feature_importance(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        target: str | Sequence[str] | None = None,
        modalities: str | Sequence[str] | None = None,
        n_background: int = 20,
        n_samples: int = 120,
        batch_size: int = 64,
        seed: int = 0,
        return_explanation: bool = False,
        key_added: str | None = None,
        input_space: str = "log1p",
        output: str | None = None,
        datamodule=None,
        n_cells: int | str = "auto",
        max_cells: int = 10_000,
        top_k: int = 20,
        stability: float = 0.95,
    ) -> pd.DataFrame | tuple[pd.DataFrame, dict]:
        """SHAP values of the model's targets on its input features, per modality.

        Expected gradients (the estimator of ``shap.GradientExplainer``), computed in torch on
        the model's device, batched, for all targets at once; global importance is summed while
        streaming over minibatches. Inputs are attributed in the space the encoders read,
        ``log1p`` of the registered counts (``input_space="counts"`` attributes the raw counts
        instead: there the values grow with a feature's count range and, on real data,
        resemble those of a randomly initialised encoder, see :meth:`randomization_check`).
        Covariates such as the batch are held at each cell's own value, so they are not
        attributed.

        Without ``indices`` the global importance is estimated from a stratified sample of the
        cells (strata: the registered labels if the model has them, else k-means clusters of
        the latent space; crossed with the batch), grown in rounds (1,000, 2,000, 4,000, …
        cells, at most ``max_cells``) until every target's top ``top_k`` features are stable
        under a bootstrap over the cells. Each row then carries a 95 % bootstrap interval of
        its rank (``rank_ci_low``, ``rank_ci_high``) and the cells behind it (``n_cells``);
        ``frame.attrs["sampling"]`` says how the sample was drawn. ``n_cells="all"`` reads
        every cell instead; ``n_cells=5000`` fixes the sample size. The cost grows with the
        sample, not with the cells of the data set (see "Interpretation at atlas scale").

        Parameters
        ----------
        adata
            Cells to explain (set up like the training data); default the training data.
        indices
            Cells of ``adata`` to explain (positions or a boolean mask), all of them; default a
            sample (see ``n_cells``).
        target
            Name(s) of the targets; default all (see the model's class for what they are).
        modalities
            Modalities whose features are attributed; default all the model reads.
        n_background
            Background cells, drawn from ``adata`` stratified by the registered labels.
        n_samples
            Gradient evaluations per cell. A multiple ``k`` of ``n_background`` (default
            ``6 × 20``) follows the path from each background cell at the ``k`` Gauss–Legendre
            nodes; otherwise paths and positions are drawn at random (stratified). The
            error of either shows in ``frame.attrs["additivity_error"]``.
        batch_size
            Cells per minibatch.
        seed
            Random seed (background and draws).
        return_explanation
            Also return ``{modality: shap.Explanation}`` with per-cell values
            (cells × features × targets; memory grows with the cells: subset with ``indices``).
        key_added
            If given, write the mean absolute SHAP values (features × targets) to
            ``.varm[key_added]`` (of each modality's AnnData for a MuData) and the settings to
            ``.uns[key_added]``.
        input_space
            ``"log1p"`` (default) or ``"counts"``.
        output
            Which output of a target is explained, for models whose targets have several
            (MultimodalClassifier: ``"log_odds"`` or ``"probability"`` of a class); ``None``
            for the default.
        datamodule
            Cells on disk instead of ``adata`` (a data module with the model's registry, e.g.
            :class:`~scvi_interpret.data.SomaDataModule`); ``indices`` are positions in it.
            Only the explained cells and the background are read, in chunks.
        n_cells
            Without ``indices``: ``"auto"`` (a sample grown until its top ranks are stable),
            ``"all"`` (every cell), or a number of cells (a stratified sample of that size).
        max_cells
            Largest sample for ``n_cells="auto"`` (it bounds the cost: about 20 ms per cell
            for 20 targets and ``n_samples=120`` on two CPU cores).
        top_k
            The top of each target's ranking that must be stable for ``n_cells="auto"`` to
            stop.
        stability
            Smallest mean share of each target's top ``top_k`` that a bootstrap resample of
            the cells keeps in its own top ``top_k`` for ``n_cells="auto"`` to stop.

        Returns
        -------
        Tidy DataFrame, one row per (target, modality, feature), with ``target, modality,
        feature, mean_shap, mean_abs_shap, rank`` (over all features of the target) and
        ``modality_rank`` (within its modality), ``n_cells`` (cells behind the target's
        means), ``rank_ci_low`` and ``rank_ci_high`` (95 % bootstrap interval of the rank over
        resamplings of those cells), sorted by target then rank.
        ``frame.attrs`` holds ``additivity_error`` (relative mean gap between the sum of the
        SHAP values and output minus base value), ``median_additivity_error`` (median over
        cells of the relative gap), ``n_cells``, ``n_background``, ``n_samples`` and
        ``modality_share`` (``{target: {modality: share}}``: the share of each target's mean
        absolute SHAP value that comes from each modality; as a table:
        :func:`scvi_interpret.tl.modality_share`). With ``return_explanation``, a tuple
        ``(frame, explanations)``.
        """
        check_hyperparameters("get_feature_importance", n_background=n_background,
                              n_samples=n_samples, batch_size=batch_size)  # fmt: skip
        cells = self._cells(adata, datamodule, key_added)
        plan = self._attribution_plan(target, modalities, input_space, output)
        check_sampling(n_cells, max_cells, top_k, stability, indices, cells.n_obs)
        if indices is None and n_cells != "all":
            sample = plan_sample(self, cells, n_cells, max_cells, seed)
        else:
            chosen = self._resolve_indices(indices, cells.n_obs)
            sample = SamplePlan(chosen, [len(chosen)], [], adaptive=False)
        result, sampling = self._attribute_sample(
            cells, sample, plan, n_background, n_samples, batch_size, seed, return_explanation,
            top_k, stability,
        )  # fmt: skip
        frame = result.to_frame(plan.modalities)
        settings = {
            "method": "expected_gradients",
            "n_background": n_background,
            "n_samples": n_samples,
            "n_cells": result.n_cells,
            "additivity_error": result.additivity_error,
            "median_additivity_error": result.median_additivity_error,
            "seed": seed,
            "input_space": input_space,
            "output": output,
            # the table's modality names -> where each lives in the user's data
            "modality_keys": self._modality_keys(list(dict.fromkeys(plan.modalities))),
        }
        frame.attrs.update(settings)
        frame.attrs["sampling"] = sampling
        # a nested dict, not a DataFrame: pandas compares attrs when concatenating frames
        frame.attrs["modality_share"] = modality_share(frame).to_dict(orient="index")
        if result.n_cells_per_target is not None:
            frame.attrs["n_cells_per_target"] = dict(
                zip(result.targets, result.n_cells_per_target.tolist(), strict=True)
            )
        if key_added is not None:
            self._write_importance(cells.adata, plan, result, key_added, settings)
        if return_explanation:
            explanation = result.to_explanation()
            return frame, {m: explanation[:, columns] for m, columns in
                           plan.modality_columns().items()}  # fmt: skip
        return frame

    def _write_importance(self, adata, plan: AttributionPlan, result, key: str, settings: dict):
        """Mean absolute SHAP values to ``.varm[key]`` (per modality) and settings to ``.uns``."""
        for modality, columns in plan.modality_columns().items():
            table = pd.DataFrame(
                result.mean_abs_shap[:, columns].T,
                index=[plan.features[c] for c in columns],
                columns=result.targets,
            )
            holder = self._modality_adata(adata, modality)
            table = table.loc[:, result.explained_targets]
            store_array(holder, "varm", key, table.reindex(holder.var_names).fillna(0.0))
        store_settings(adata, key, settings)

    def _modality_adata(self, adata, modality: str) -> AnnData:
        return adata

    def _modality_keys(self, names: list[str]) -> dict[str, str | None]:
        """Modality name in result tables -> its key in the user's MuData (None: an AnnData)."""
        keys = dict(getattr(self, "modalities", None) or {})
        return {name: keys.get(name) for name in names}

    # --------------------------------------------------------------- checks
    @staticmethod
    def _resolve_indices(indices, n_obs: int) -> np.ndarray:
        if indices is None:
            return np.arange(n_obs)
        indices = as_positions(indices)
        if indices.dtype == bool:
            if len(indices) != n_obs:
                raise CellIndexError(f"A boolean mask over cells needs length {n_obs}.")
            return np.flatnonzero(indices)
        if len(indices) == 0:
            raise InvalidArgumentError("indices is empty: no cell to explain.")
        if indices.min() < -n_obs or indices.max() >= n_obs:
            raise CellIndexError(
                f"indices must lie in [0, {n_obs}); got values from {indices.min()} to "
                f"{indices.max()}."
            )
        return np.mod(indices, n_obs)

    def _background_labels(self, cells: Cells) -> np.ndarray | None:
        labels = cells.labels()
        if labels is None:
            return None
        return labels if len(np.unique(labels)) > 1 else None


def check_sampling(n_cells, max_cells, top_k, stability, indices, n_obs: int) -> None:
    """Raise for sampling settings that cannot be met, naming the fix."""
    if indices is not None:
        if n_cells != "auto":
            raise InvalidArgumentError(
                f"indices= chooses the cells to explain and n_cells={n_cells!r} samples them: "
                "pass one of the two."
            )
        return
    check_sample_size(n_cells, n_obs)
    if isinstance(max_cells, bool) or not isinstance(max_cells, int | np.integer) or max_cells < 1:
        raise InvalidArgumentError(
            f"max_cells must be a positive whole number, not {max_cells!r}."
        )
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        raise InvalidArgumentError(f"top_k must be a positive whole number, not {top_k!r}.")
    if not 0 < stability <= 1:
        raise InvalidArgumentError(
            f"stability is a share of the top features: in (0, 1], not {stability}."
        )


def check_input_space(input_space: str) -> None:
    """Raise unless ``input_space`` is one of :data:`INPUT_SPACES`."""
    if input_space not in INPUT_SPACES:
        raise InvalidArgumentError(
            f"input_space must be one of {INPUT_SPACES}, not {input_space!r}."
        )


def check_modalities(
    modalities: str | Sequence[str] | None,
    available: list[str],
    keys: dict[str, str] | None = None,
) -> list[str]:
    """The asked modalities (all when ``None``), raising for one the model does not read.

    ``keys`` (modality name -> MuData key) lets the user name a modality by either: ``"adt"``
    is read as ``"protein"`` when the model registered ``{"protein": "adt"}``.
    """
    if modalities is None:
        return list(available)
    by_key = {key: name for name, key in (keys or {}).items() if key not in available}
    asked = [modalities] if isinstance(modalities, str) else list(modalities)
    asked = [by_key.get(m, m) for m in asked]
    unknown = [m for m in asked if m not in available]
    if unknown or not asked:
        named = f" (MuData keys: {keys})" if keys else ""
        raise UnknownNameError(
            f"modalities {unknown or asked} are not modalities of this model; it reads "
            f"{available}{named}."
        )
    return list(dict.fromkeys(asked))
