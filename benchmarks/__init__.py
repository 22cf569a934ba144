"""Benchmarks: speed and memory measured against baselines in the same run.

Run them all with ``make bench`` (``python -m benchmarks``). Every figure is the median of several
repeats and is reported next to a baseline measured in the same run; targets live here, never as
timing asserts in tests.
"""
