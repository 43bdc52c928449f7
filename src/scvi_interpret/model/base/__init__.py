"""Shared pieces of the model classes: input checks, start values, the training plan."""

from ._init_values import gene_log_frequencies, registered_statistics
from ._interpretability import InterpretabilityMixin
from ._persistence import CheckedPersistenceMixin
from ._setup import (
    check_continuous_covariates,
    check_has_cells,
    check_is_anndata,
    check_key_lists,
    unchanged_on_failure,
)
from ._training_plan import (
    TrainingPlan,
    check_max_epochs,
    keep_query_registry,
    query_plan_kwargs,
)
from ._traversal_archetypes import Archetypes, LatentExplorationMixin
from ._trust import AttributionTrustMixin
from ._validation import (
    check_counts,
    check_no_empty_cells,
    check_obs_keys,
    check_same_features,
    get_matrix,
)

__all__ = [
    "Archetypes",
    "AttributionTrustMixin",
    "CheckedPersistenceMixin",
    "InterpretabilityMixin",
    "LatentExplorationMixin",
    "TrainingPlan",
    "check_continuous_covariates",
    "check_counts",
    "check_has_cells",
    "check_is_anndata",
    "check_key_lists",
    "check_max_epochs",
    "check_no_empty_cells",
    "check_obs_keys",
    "check_same_features",
    "gene_log_frequencies",
    "get_matrix",
    "keep_query_registry",
    "query_plan_kwargs",
    "registered_statistics",
    "unchanged_on_failure",
]
