"""Each rank's heartbeat in a launched run: its step and the time it last finished one, so a stuck rank shows.

Rank 0's process liveness is run.lock's job; these files only say how far every rank has got.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from engine.atomic import write_text_atomic

RANKS_DIR = "ranks"


def heartbeat_file(run_dir: str | os.PathLike, rank: int) -> Path:
    """Where a rank leaves its heartbeat."""
    return Path(run_dir) / RANKS_DIR / f"rank-{rank}.json"


def write_heartbeat(run_dir: str | os.PathLike, rank: int, step: int) -> None:
    """Record that `rank` has finished `step` now (never raises: a heartbeat must not stop training)."""
    record = {"rank": rank, "step": step, "time": round(time.time(), 3), "pid": os.getpid(), "host": socket.gethostname()}
    path = heartbeat_file(run_dir, rank)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(record))
    except OSError:
        pass


def read_heartbeats(run_dir: str | os.PathLike) -> list[dict]:
    """Every rank's latest heartbeat, in rank order (none for a one-process run)."""
    records = []
    for path in sorted((Path(run_dir) / RANKS_DIR).glob("rank-*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("rank"), int):
            records.append(record)
    return sorted(records, key=lambda r: r["rank"])

