"""Benchmarks and the chaos run for orcid-sync, on the local stack (moto + the local ORCID sandbox).

``make bench`` runs :mod:`bench.run`; ``make chaos`` runs :mod:`bench.chaos`. Nothing here asserts a
time: the figures are printed, written to ``bench/results.json`` and rendered into BENCHMARKS.md.
"""
