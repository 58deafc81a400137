"""Run configuration: the preset YAML, its schema from the real library classes, rules, presets and tutorial import."""
