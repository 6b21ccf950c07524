"""Benchmarks: run with `pytest bench/ --benchmark-only` or `python -m bench.run`."""
