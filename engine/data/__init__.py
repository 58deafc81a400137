"""Training data: reading files, their formats, preparation, lengths and the preview."""
