"""Operator tools: CLI, demo seed, embedded store, benchmarks; only tests import graph.ops."""
