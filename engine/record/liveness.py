"""Whether a run's training process lives, and the one rule for a run's status.

The training process holds an flock on run.lock from the moment the run directory is created
until the run ends; the OS drops it when the process dies (killed, crashed, machine restarted),
so on one machine the lock is exact. The file also holds the process's pid, host and a
heartbeat rewritten every few seconds: for a run directory on a shared filesystem watched from
another host, where the lock may not be visible, a recent heartbeat means running and a stale
one "died?".
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from engine.errors import UserError
from engine.record.events import read_events
from engine.record.state import RunState

LOCK_FILE = "run.lock"
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 60.0
"""A heartbeat older than this (from another host) no longer counts as a sign of life."""
LOCK_WAIT_SECONDS = 2.0
"""How long taking the lock retries: a reader's probe holds it for a moment."""
RECORD_BYTES = 512
"""Every record is padded to this size, so a rewrite in place never leaves a longer old tail."""
ALIVE, GONE, SILENT, UNKNOWN = "alive", "gone", "silent", "unknown"
STATUS_OF_PROCESS = {ALIVE: "running", GONE: "died", SILENT: "died?"}

_held: dict[Path, "RunLock"] = {}
"""Run directories this process trains in: answered without probing (on NFS, closing a probe would drop our lock)."""


@dataclass(frozen=True)
class Liveness:
    """What run.lock says about a run's training process."""

    state: str = UNKNOWN
    """alive, gone (its lock is free), silent (another host's heartbeat is stale) or unknown (no run.lock)."""
    pid: int | None = None
    host: str | None = None
    since: float | None = None
    """When that process took the run directory."""
    heartbeat: float | None = None


class RunLock:
    """A training process's hold on its run directory: the flock, its record and a heartbeat thread."""

    def __init__(self, run_dir: str | os.PathLike, heartbeat_seconds: float = HEARTBEAT_SECONDS) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self.heartbeat_seconds = heartbeat_seconds
        self.since = time.time()
        self.locked = False
        self._fd: int | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the run directory and start the heartbeat; UserError when another process trains in it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self.locked = _take_lock(fd)
        except BlockingIOError:
            holder = _read_record(fd)
            os.close(fd)
            raise UserError(f"{self.path.parent} is being trained by another process (pid {holder.get('pid')} on "
                            f"{holder.get('host')}); watch it with `sft-wizard attach {self.path.parent}`.") from None
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            self._write()
        except OSError:  # a full disk: no empty run.lock is left behind
            self._fd = None
            os.close(fd)
            self.path.unlink(missing_ok=True)
            raise
        _held[self.path.parent.resolve()] = self
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop the heartbeat and let go of the run directory (closing the file drops the lock)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        _held.pop(self.path.parent.resolve(), None)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def liveness(self) -> Liveness:
        """This process, as a reader of its run.lock would see it."""
        return Liveness(ALIVE, os.getpid(), socket.gethostname(), self.since, time.time())

    def _write(self) -> None:
        """Rewrite the record in place: pid, host, since, heartbeat and whether the lock holds."""
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": self.since,
                  "heartbeat": round(time.time(), 3), "lock": self.locked}
        os.pwrite(self._fd, json.dumps(record).ljust(RECORD_BYTES).encode(), 0)

    def _beat(self) -> None:
        """Refresh the heartbeat every few seconds until released."""
        while not self._stopped.wait(self.heartbeat_seconds):
            try:
                self._write()
            except OSError:  # a full or unreachable disk must not stop training; the lock still tells
                pass


def _take_lock(fd: int) -> bool:
    """Lock fd exclusively, retrying a moment; False where flock is unsupported."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        except OSError:  # a filesystem without locks: readers go by the heartbeat
            return False


def _lock_held(fd: int) -> bool | None:
    """Whether another open file holds the lock; None where flock is unsupported."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _read_record(fd: int) -> dict:
    """The pid, host, since and heartbeat in run.lock ({} while unwritten or unreadable)."""
    try:
        record = json.loads(os.pread(fd, RECORD_BYTES, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def read_liveness(run_dir: str | os.PathLike, now: float | None = None) -> Liveness:
    """What run.lock says about the run's training process (unknown for a run directory without one)."""
    folder = Path(run_dir)
    own = _held.get(folder.resolve())
    if own is not None:
        return own.liveness()
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return Liveness()
    try:
        record = _read_record(fd)
        held = _lock_held(fd) if record.get("lock", True) else None
    finally:
        os.close(fd)
    state = _process_state(record, held, time.time() if now is None else now)
    return Liveness(state, record.get("pid"), record.get("host"), record.get("since"), record.get("heartbeat"))


def _process_state(record: dict, held: bool | None, now: float) -> str:
    """alive, gone or silent: the lock where it can tell, else the heartbeat."""
    if held:
        return ALIVE
    if held is False and record.get("host") in (None, socket.gethostname()):
        return GONE  # a lock on this machine is exact
    heartbeat = record.get("heartbeat")
    return ALIVE if isinstance(heartbeat, (int, float)) and now - heartbeat < STALE_SECONDS else SILENT


def run_status(events: list[dict], life: Liveness = Liveness()) -> str:
    """The status of a run: its latest attempt's `end`, else what its process's liveness says.

    running, completed, stopped, failed, died, died? (another host gone quiet), or not started.
    """
    end = _latest_end(events, life.since)
    if end is not None:
        return str(end.get("status"))
    if life.state == UNKNOWN:  # a run directory from before run.lock: the events alone
        return "running" if any(e.get("event") == "start" for e in events) else "not started"
    return STATUS_OF_PROCESS[life.state]


def _latest_end(events: list[dict], since: float | None) -> dict | None:
    """The last `end` event, when it ends the latest attempt (after its start and its taking of the lock)."""
    ends = [e for e in events if e.get("event") == "end"]
    began = [e["time"] for e in events if e.get("event") == "start"][-1:] + ([since] if since else [])
    if ends and (not began or ends[-1]["time"] >= max(began)):
        return ends[-1]
    return None


def read_status(run_dir: str | os.PathLike) -> str:
    """The status of the run in run_dir, from its events and its process's liveness."""
    return run_status(read_events(run_dir), read_liveness(run_dir))


def death_note(events: list[dict], life: Liveness) -> str:
    """How a dead run is told: the step it died at and the process that is gone."""
    step = RunState.from_events(events).step
    return (f"died at step {step}: its training process (pid {life.pid} on {life.host}) is gone "
            "(killed, or its machine restarted)")
