"""Benchmarks of derive's generated code and of generation itself: `python -m benchmarks`."""
