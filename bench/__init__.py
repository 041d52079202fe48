"""Benchmarks: speed and memory as ratios measured side by side in one run, never timed tests.

``python -m bench`` (``make bench``) writes ``bench/RESULTS.md``; ``python -m bench --events 100000``
is a quick run.
"""
