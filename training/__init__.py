"""Training, evaluation and export of livesense's emotion models (needs the [train] extra)."""
