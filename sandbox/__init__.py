"""Runnable simulators of the external systems (one sub-package each) for demo, tests and benchmarks."""
