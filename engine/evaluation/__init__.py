"""Judging a finished run: base against fine-tuned on held-out rows and lm-eval tasks, and runs side by side."""
