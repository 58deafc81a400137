"""The run's event stream: events.jsonl in the run directory, fanned out to live listeners.

Every line is one JSON object with `event` and `time` (Unix seconds). Kinds: start, status,
log, eval, checkpoint, end (see architecture.md). A listener never slows or breaks training:
its errors are swallowed after the first, which disables it.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

EVENTS_FILE = "events.jsonl"
Listener = Callable[[dict], None]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep the fact readable
    return value


class EventWriter:
    """Appends events to events.jsonl (flushed per line) and hands each to the listeners."""

    def __init__(self, run_dir: str | os.PathLike, listeners: list[Listener] | None = None):
        self.path = Path(run_dir) / EVENTS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._listeners = list(listeners or [])
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> dict:
        """Write one event and pass it on; returns the event as written."""
        record = {"event": event, "time": time.time(), **{k: _clean(v) for k, v in fields.items()}}
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
        for listener in list(self._listeners):
            try:
                listener(record)
            except Exception:  # a broken view (closed terminal) must not stop training
                self._listeners.remove(listener)
        return record

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()


class SilentWriter:
    """The writer of a rank other than 0: events are rank 0's to write, so nothing is written or passed on."""

    def emit(self, event: str, **fields: Any) -> dict:
        """Nothing; returns the event as rank 0 would write it."""
        return {"event": event, "time": time.time(), **fields}

    def close(self) -> None:
        """Nothing to close."""


def read_events(run_dir: str | os.PathLike) -> list[dict]:
    """All complete events of a run directory (a half-written last line is skipped)."""
    path = Path(run_dir) / EVENTS_FILE
    events = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.endswith("\n"):
                    try:
                        events.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
    except FileNotFoundError:
        pass
    return events


def follow_events(run_dir: str | os.PathLike, stop: threading.Event, poll_seconds: float = 0.25,
                  idle: Callable[[], bool] | None = None, start_at: int = 0) -> Iterator[dict]:
    """Yield events as they are appended (like tail -f) until `stop` is set or `idle()`, asked at each lull, is true.

    `start_at`: a byte offset in events.jsonl to begin at (the file's size before a new attempt began).
    """
    path = Path(run_dir) / EVENTS_FILE
    while not path.exists() and not stop.is_set():
        stop.wait(poll_seconds)
    if stop.is_set():
        return
    with open(path, encoding="utf-8") as handle:
        handle.seek(start_at)
        pending = ""
        while not stop.is_set():
            chunk = handle.readline()
            if not chunk:
                if idle is not None and idle():
                    return
                stop.wait(poll_seconds)
                continue
            pending += chunk
            if not pending.endswith("\n"):
                continue
            line, pending = pending, ""
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            yield event
