"""The run index: the absolute path of every run directory training created, wherever it is.

One path per line in the user's state directory. Writers take a lock and replace the file atomically,
so two runs starting at once both land; readers skip a damaged line and a directory deleted since.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from engine.atomic import write_text_atomic
from engine.paths import state_dir

INDEX_FILE = "runs.index"
LOCK_FILE = "runs.index.lock"
MOST_RUNS = 1000
"""The newest entries kept; older ones fall off when a run is added."""


def index_path() -> Path:
    """Where the run index lives."""
    return state_dir() / INDEX_FILE


def record_run(run_dir: str | os.PathLike) -> None:
    """Add a run directory's absolute path (relative paths are taken from the working directory) to the index.

    Never raises for the index's sake: a read-only or full state directory must not stop a run.
    """
    path = str(Path(run_dir).resolve())
    if "\n" in path:  # one path per line: such a name cannot be recorded
        return
    try:
        state_dir().mkdir(parents=True, exist_ok=True)
        fd = os.open(state_dir() / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # the writers one after another: no entry is lost
            kept = [entry for entry in _existing_once(_entries()) if entry != path]
            write_text_atomic(index_path(), "".join(f"{entry}\n" for entry in [*kept, path][-MOST_RUNS:]))
        finally:
            os.close(fd)  # closing releases the lock
    except OSError:
        pass


def indexed_runs() -> list[Path]:
    """The indexed run directories that still exist, newest entry first, each once."""
    return [Path(entry) for entry in reversed(_existing_once(_entries()))]


def _existing_once(entries: list[str]) -> list[str]:
    """Each directory that still exists once, at its newest entry, oldest first."""
    newest_first = dict.fromkeys(reversed(entries))
    return [entry for entry in reversed(newest_first) if os.path.isdir(entry)]


def _entries() -> list[str]:
    """The index's well-formed lines (absolute paths), oldest first; a damaged line is skipped."""
    try:
        text = index_path().read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.split("\n") if os.path.isabs(line) and "\0" not in line and "\ufffd" not in line]
