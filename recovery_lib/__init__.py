"""recovery_lib: replicated, verified checkpoints for ML pipelines (filled in by issue 3)."""
