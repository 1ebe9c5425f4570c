"""Benchmarks: scripts that measure what the docs quote, run as ``python -m benchmarks.<name>`` (see ``common``)."""
