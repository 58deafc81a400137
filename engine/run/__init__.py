"""Running training: the plan and checks, the trainer and its callback, control, the probe and launched ranks."""
