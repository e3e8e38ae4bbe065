"""Benchmarks: each prints figures measured in one run and asserts nothing (see DESIGN.md)."""
