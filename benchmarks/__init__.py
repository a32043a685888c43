"""Benchmarks of recovery_lib against raw boto3 on a local moto server (``make bench``).

Each benchmark starts its own moto server process on 127.0.0.1, measures the library and
its baseline in the same run, alternating, and reports medians and ratios
(library / baseline). Results and the method are in ``docs/performance.md``.
"""
