"""Benchmarks: the frag-balloon model generator and the harness that runs the engines."""
