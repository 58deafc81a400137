"""Widgets, dialogs and messages that the wizard and the monitor share."""
