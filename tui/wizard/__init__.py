"""The wizard: the app, its steps, command palette and background analyses."""
