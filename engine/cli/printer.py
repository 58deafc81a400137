"""Headless output: one readable line per event, never a progress bar."""

from __future__ import annotations

import sys
from typing import TextIO

from engine.record.event_text import format_event


class LinePrinter:
    """A listener printing format_event lines; gives up quietly when the terminal is gone."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.alive = True

    def __call__(self, event: dict) -> None:
        if not self.alive:
            return
        line = format_event(event)
        if line is None:
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed terminal (SSH dropped): keep training, stop printing
            self.alive = False
