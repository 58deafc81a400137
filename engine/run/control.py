"""Controlling a run: in-process requests (RunControl) and, from another process, request files.

The training callback looks for them between steps (one stat each, no polling thread).
"""

from __future__ import annotations

import threading
from pathlib import Path

from engine.atomic import write_text_atomic
from engine.errors import UserError
from engine.record.events import EVENTS_FILE, read_events
from engine.record.liveness import LOCK_FILE, Liveness, death_note, read_liveness, run_status

ACTIONS = ("stop", "checkpoint", "pause", "resume")


def request_file(run_dir: str | Path, action: str) -> Path:
    """The file that asks a run for an action."""
    return Path(run_dir) / f".request-{action}"


def send_request(run_dir: str | Path, action: str, reason: str | None = None) -> None:
    """Ask the run in run_dir to stop, save a checkpoint, pause or resume at its next step (`reason`: why, for its end)."""
    if action not in ACTIONS:
        raise ValueError(action)
    write_text_atomic(request_file(run_dir, action), reason or action)


def send_to_live_run(run_dir: str | Path, action: str) -> Liveness:
    """Send an action to the run in run_dir when its training process lives; UserError otherwise."""
    folder = Path(run_dir)
    if not (folder / EVENTS_FILE).is_file() and not (folder / LOCK_FILE).is_file():
        raise UserError(f"{run_dir} is not a run directory (no {EVENTS_FILE}).")
    events, life = read_events(folder), read_liveness(folder)
    status = run_status(events, life)
    if status == "died":
        raise UserError(f"the run in {run_dir} {death_note(events, life)}; nothing to {action}. Continue it with "
                        f"`sft-wizard train PRESET --output-dir {run_dir} --resume`.")
    if status != "running":
        raise UserError(f"the run in {run_dir} is not alive ({status}); nothing to {action}.")
    send_request(folder, action, f"stopped by `sft-wizard {action}`" if action == "stop" else None)
    return life


def discard_requests(run_dir: str | Path) -> None:
    """Drop requests left for an earlier process of this run directory (one that died before taking them)."""
    for action in ACTIONS:
        take_request(run_dir, action)


def take_request(run_dir: str | Path, action: str) -> str | None:
    """The request for an action, consumed: its reason (the action's name when none was given), or None."""
    path = request_file(run_dir, action)
    try:
        text = path.read_text(encoding="utf-8").strip()
        path.unlink()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return text or action


class RunControl:
    """Requests from the user to a running trainer, honoured at the next step boundary."""

    def __init__(self) -> None:
        self.stop_requested = threading.Event()
        self.checkpoint_requested = threading.Event()
        self.paused = threading.Event()
        self.stop_reason = ""

    def request_stop(self, reason: str = "stopped by the user") -> None:
        """Stop after the current step, saving a checkpoint."""
        self.stop_reason = reason
        self.stop_requested.set()
        self.paused.clear()

    def request_checkpoint(self) -> None:
        """Save a checkpoint after the current step."""
        self.checkpoint_requested.set()

    def toggle_pause(self) -> bool:
        """Pause at the next step boundary, or resume; returns whether paused now."""
        if self.paused.is_set():
            self.paused.clear()
        else:
            self.paused.set()
        return self.paused.is_set()
