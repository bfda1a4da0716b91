"""Training loops, early stopping, checkpoints, seeding and device selection."""
