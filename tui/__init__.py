"""sft-wizard's Textual app: the wizard and the live training monitor over engine/."""
