"""Benchmarks of doodlestream against the one-request-at-a-time design it replaces.

``python -m bench`` (``--quick`` for a smoke run) measures latency, throughput, memory
and bytes per guess, and writes ``bench/results.json``, ``bench/results.md`` and
``bench/latency.png``.  Nothing here is imported by the server.
"""
