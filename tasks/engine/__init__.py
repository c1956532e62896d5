"""The shared engine: batching, metrics, task base class, training loop, plots, runner."""
