"""The record of a run on disk: its directory, events and their text, liveness, state and the list of recent runs."""
