"""The shared engine: batching, metrics, models, task base class, training loop, checkpoints,
exported inference, plots, runner."""
