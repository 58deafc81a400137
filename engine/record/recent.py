"""Finding earlier runs (the run index and run directories under a root) and summarising them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from engine.record.events import EVENTS_FILE, read_event_log
from engine.record.liveness import read_liveness, run_status
from engine.record.run_index import indexed_runs
from engine.record.rundir import latest_checkpoint
from engine.record.state import RunState


@dataclass
class RunSummary:
    """One run directory as a list row."""

    path: Path
    name: str
    status: str
    """running, completed, stopped, failed, died, died? or not started (see engine.record.liveness.run_status)."""
    step: int
    total_steps: int
    final_loss: float | None
    started: float | None
    note: str | None = None
    """What could not be read (damaged lines of events.jsonl, an unreadable run directory), said once."""

    @property
    def last_checkpoint(self) -> str | None:
        """The checkpoint a resume would take: read when asked (it checks each checkpoint's files), not for a list."""
        return latest_checkpoint(self.path)

    @property
    def date(self) -> str:
        """Start time as local date and time."""
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.started)) if self.started else "?"


def summarise_run(run_dir: Path) -> RunSummary:
    """Status, step, final loss and start time of a run directory."""
    log = read_event_log(run_dir)
    events = log.events
    state = RunState.from_events(events)
    first_start = next((e["time"] for e in events if e.get("event") == "start"), None)
    return RunSummary(run_dir, state.name or run_dir.name, run_status(events, read_liveness(run_dir)), state.step,
                      state.total_steps, state.summary()["final_loss"], first_start, log.note(run_dir))


def _summary_or_note(run_dir: Path) -> RunSummary:
    """summarise_run, or a row that says why the run directory could not be read: one run never hides the others."""
    try:
        return summarise_run(run_dir)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        return RunSummary(run_dir, run_dir.name, "unreadable", 0, 0, None, None,
                          f"{run_dir}: could not be read ({type(exc).__name__}: {exc})")


def find_runs(root: str | Path = "runs", limit: int = 20, indexed: bool = True) -> list[RunSummary]:
    """The runs training started (the run index, when indexed) and those under root (and root itself), newest first."""
    candidates = [*(indexed_runs() if indexed else []), *_runs_under(root)]
    unique = dict.fromkeys(path.resolve() for path in candidates if (path / EVENTS_FILE).is_file())
    runs = [_summary_or_note(path) for path in unique]
    return sorted(runs, key=lambda r: r.started or 0, reverse=True)[:limit]


def _runs_under(root: str | Path) -> list[Path]:
    """Run directories right under root, and root itself when it is one."""
    base = Path(root)
    if not base.is_dir():
        return []
    return [p.parent for p in base.glob(f"*/{EVENTS_FILE}")] + [p.parent for p in base.glob(EVENTS_FILE)]
