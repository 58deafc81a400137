"""Library warnings (transformers, TRL, PEFT, kernels, bitsandbytes, Python warnings) into the run's event stream."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.record.events import EventWriter


class EventLogHandler(logging.Handler):
    """Writes each warning record as a status event (phase warning)."""

    def __init__(self, writer: "EventWriter") -> None:
        super().__init__(level=logging.WARNING)
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.writer.emit("status", phase="warning", message=f"{record.name}: {record.getMessage()}"[:500])
        except Exception:  # never let logging break training
            pass


def capture_library_logs(writer: "EventWriter") -> None:
    """Route transformers/trl/peft loggers and Python warnings to the writer instead of the screen."""
    handler = EventLogHandler(writer)
    for name in ("transformers", "trl", "peft", "accelerate", "datasets", "kernels", "bitsandbytes", "py.warnings"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
    # Off then on: when an earlier run in this process left capture on and something has since put its own
    # showwarning back (warnings.catch_warnings does), a bare captureWarnings(True) would do nothing.
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    # Shown once per place, but after the filters already set: quiet_libraries' ignores stay in force.
    warnings.simplefilter("default", append=True)
