"""Experiments: the pipeline's stages, Tables I and II, calibration, the security sweep, executors and
benchmarks.  They write the result files through ``core.results.readers``."""
