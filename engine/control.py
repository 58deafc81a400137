"""Controlling a run from another process (attach): request files in the run directory.

The training callback looks for them between steps (one stat each, no polling thread).
"""

from __future__ import annotations

from pathlib import Path

from engine.atomic import write_text_atomic

ACTIONS = ("stop", "checkpoint", "pause", "resume")


def request_file(run_dir: str | Path, action: str) -> Path:
    """The file that asks a run for an action."""
    return Path(run_dir) / f".request-{action}"


def send_request(run_dir: str | Path, action: str) -> None:
    """Ask the run in run_dir to stop, save a checkpoint, pause or resume at its next step."""
    if action not in ACTIONS:
        raise ValueError(action)
    write_text_atomic(request_file(run_dir, action), action)


def take_request(run_dir: str | Path, action: str) -> bool:
    """Whether an action was requested (the request is consumed)."""
    path = request_file(run_dir, action)
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
