"""Running training: checks, the trainer, events, control, run directories and the probe."""
