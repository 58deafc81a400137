"""What a run produces for users: generation, merged models and exported scripts."""
