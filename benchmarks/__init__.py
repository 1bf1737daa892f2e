"""Benchmarks: ``make bench`` runs every ``bench_*.py`` here; results go to ``results/``."""
