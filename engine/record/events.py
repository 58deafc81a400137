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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from engine.yamlio import YamlValue

EVENTS_FILE = "events.jsonl"
Listener = Callable[[dict], None]


def _clean(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep the fact readable
    return value


class EventWriter:
    """Appends events to events.jsonl (flushed per line) and hands each to the listeners."""

    def __init__(self, run_dir: str | os.PathLike, listeners: list[Listener] | None = None):
        self.path = Path(run_dir) / EVENTS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = _ends_mid_line(self.path)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        if torn:  # an earlier attempt died mid-line: its piece stays one damaged line, this attempt's first is whole
            self._file.write("\n")
        self._listeners = list(listeners or [])
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: object) -> dict:
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


def _ends_mid_line(path: Path) -> bool:
    """Whether a file ends with part of a line (a writer killed mid-line), which an appended line would join."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() == 0:
                return False
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"
    except OSError:
        return False


class SilentWriter:
    """The writer of a rank other than 0: events are rank 0's to write, so nothing is written or passed on."""

    def emit(self, event: str, **fields: object) -> dict:
        """Nothing; returns the event as rank 0 would write it."""
        return {"event": event, "time": time.time(), **fields}

    def close(self) -> None:
        """Nothing to close."""


NUMBER_FIELDS = frozenset({"epoch", "loss", "learning_rate", "grad_norm", "tokens_per_second", "samples_per_second",
                           "eval_loss", "final_loss", "first_loss", "best_eval_loss", "train_runtime"})
"""Fields that hold a number (a non-finite one written as the string "nan", "inf" or "-inf"), or null."""
COUNT_FIELDS = frozenset({"step", "total_steps", "start_step", "global_step", "world_size", "best_eval_step",
                          "num_train_examples", "num_eval_examples", "pid"})
TEXT_FIELDS = frozenset({"status", "phase", "message", "path", "final_path", "device", "precision", "name", "run_dir",
                         "resumed_from", "strategy"})
NON_FINITE = frozenset({"nan", "inf", "-inf"})


@dataclass
class EventLog:
    """A run's events as read, and the line numbers of the complete lines that were damaged and skipped."""

    events: list[dict] = field(default_factory=list)
    damaged: list[int] = field(default_factory=list)
    first_damage: str = ""
    """What is wrong with the first damaged line."""

    def note(self, run_dir: str | os.PathLike) -> str | None:
        """One line saying how many damaged lines were skipped, and where; None when there were none."""
        if not self.damaged:
            return None
        first = f"line {self.damaged[0]}: {self.first_damage}"
        if len(self.damaged) == 1:
            return f"{Path(run_dir) / EVENTS_FILE}: 1 damaged line skipped ({first})"
        shown = ", ".join(map(str, self.damaged[:5])) + (", …" if len(self.damaged) > 5 else "")
        return f"{Path(run_dir) / EVENTS_FILE}: {len(self.damaged)} damaged lines skipped (lines {shown}; {first})"


def _parse(line: bytes) -> tuple[dict, str | None]:
    """The event on a line of events.jsonl, and what is wrong with the line (None when nothing is)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {}, f"byte {exc.start + 1} is not UTF-8"
    try:
        event = json.loads(text)
    except ValueError:
        return {}, "not JSON"
    if not isinstance(event, dict):
        return {}, f"a JSON {type(event).__name__}, not an object"
    if not isinstance(event.get("event"), str) or not _is_number(event.get("time")):
        return {}, "no `event` name or `time` number"
    wrong = next((key for key, value in event.items() if value is not None and not _fits(key, value)), None)
    return (event, None) if wrong is None else ({}, f"`{wrong}` is {json.dumps(event[wrong])[:40]}")


def _fits(key: str, value: YamlValue) -> bool:
    """Whether a field's value has the type every reader of events expects."""
    if key in COUNT_FIELDS:
        return isinstance(value, int) and not isinstance(value, bool)
    if key in NUMBER_FIELDS or key.endswith("_bytes"):
        return _is_number(value) or (isinstance(value, str) and value in NON_FINITE)
    if key in TEXT_FIELDS:
        return isinstance(value, str)
    return key != "ranks" or isinstance(value, list)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_event_log(run_dir: str | os.PathLike) -> EventLog:
    """Every complete event of a run directory; a damaged line is skipped and counted (a half-written last line is not
    damaged: it is still being written)."""
    log = EventLog()
    try:
        data = (Path(run_dir) / EVENTS_FILE).read_bytes()
    except OSError:
        return log
    for number, line in enumerate(data.split(b"\n")[:-1], start=1):  # the last piece has no newline yet
        if not line.strip():
            continue
        event, damage = _parse(line)
        if damage:
            log.first_damage = log.first_damage or damage
            log.damaged.append(number)
        else:
            log.events.append(event)
    return log


def read_events(run_dir: str | os.PathLike) -> list[dict]:
    """All complete, well-formed events of a run directory (damaged lines and a half-written last line skipped)."""
    return read_event_log(run_dir).events


def follow_events(run_dir: str | os.PathLike, stop: threading.Event, poll_seconds: float = 0.25,
                  idle: Callable[[], bool] | None = None, start_at: int = 0) -> Iterator[dict]:
    """Yield events as they are appended (like tail -f) until `stop` is set or `idle()`, asked at each lull, is true.

    `start_at`: a byte offset in events.jsonl to begin at (the file's size before a new attempt began).
    A damaged line is skipped; the first one is told by a `status` warning event in its place.
    """
    path = Path(run_dir) / EVENTS_FILE
    while not path.exists() and not stop.is_set():
        stop.wait(poll_seconds)
    if stop.is_set():
        return
    told = False
    with open(path, "rb") as handle:
        handle.seek(start_at)
        pending = b""
        while not stop.is_set():
            chunk = handle.readline()
            if not chunk:
                if idle is not None and idle():
                    return
                stop.wait(poll_seconds)
                continue
            pending += chunk
            if not pending.endswith(b"\n"):
                continue
            line, pending = pending, b""
            if not line.strip():
                continue
            event, damage = _parse(line)
            if not damage:
                yield event
            elif not told:
                told = True
                yield {"event": "status", "phase": "warning", "time": time.time(),
                       "message": f"{path}: a damaged line skipped ({damage}); `sft-wizard runs` counts them all"}
