"""Opening a log file for a process's output: appended to, never truncated."""

from __future__ import annotations

import os
from pathlib import Path


def open_for_append(path: str | os.PathLike) -> int | None:
    """path opened for appending as a file descriptor (its folder made, the file too), or None when it cannot be."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return None
