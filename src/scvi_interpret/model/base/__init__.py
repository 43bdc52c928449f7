"""Shared pieces of the model classes: input validation and start values."""

from ._init_values import gene_log_frequencies
from ._validation import check_counts, check_obs_keys, get_matrix

__all__ = ["check_counts", "check_obs_keys", "gene_log_frequencies", "get_matrix"]
