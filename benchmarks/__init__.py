"""Benchmarks of scvi-interpret against its peers; run them with ``python -m benchmarks``."""
