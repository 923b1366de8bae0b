"""Benchmarks: `evse-bench` (or `make bench`) runs them all and prints one table. Not part of the test suite."""
