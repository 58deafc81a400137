"""Where a monitor's events come from: a run trained in this process, or a run directory."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.fit.verdicts import Recommendation
    from engine.run.train import RunResult

Put = Callable[[dict], None]
MONITOR_STOP = "stopped from the monitor"
"""The stop reason of the monitor's own stop key: the only stop after which the monitor stays open."""
LIVENESS_SECONDS = 2.0
"""How often an attached monitor, with nothing new to show, checks that the run's process lives."""


class RunSource:
    """Starts delivering events and forwards the user's requests to the run."""

    kind = ""
    controllable = False

    @property
    def label(self) -> str:
        """A name for the run before its start event arrives."""
        return self.run_dir

    run_dir: str = ""

    def start(self, put: Put) -> None:
        """Begin putting events (from a thread; put never blocks)."""

    def stop(self) -> None:
        """Stop after the current step."""

    def checkpoint(self) -> None:
        """Save a checkpoint after the current step."""

    def toggle_pause(self) -> bool:
        """Pause or resume; returns whether paused now."""
        return False

    def close(self) -> None:
        """Stop delivering events (the run itself is not affected)."""

    def config(self) -> "RunConfig | None":
        """The run's config."""
        return None

    def oom_fix(self, available_bytes: int | None, mixed: str | None = None) -> "Recommendation | None":
        """The memory-fit engine's first change after an out-of-memory, for the memory and mixed precision the run had."""
        from engine.fit.verdicts import recommend_after_oom
        from engine.models.structure import model_structure

        config = self.config()
        if config is None:
            return None
        try:
            recommendations = recommend_after_oom(config, model_structure(config.model), available_bytes, mixed)
        except Exception:  # advice only: never let it break the monitor
            return None
        return recommendations[0] if recommendations else None


class InProcessRun(RunSource):
    """Trains a config in a thread of this process (it outlives the UI when detached)."""

    kind = "training here"
    controllable = True
    _latest: "InProcessRun | None" = None
    """The newest run started in this process (one process trains one run at a time)."""

    @classmethod
    def latest(cls) -> "InProcessRun | None":
        """The newest run started in this process, running or ended."""
        return cls._latest

    @classmethod
    def training_now(cls) -> "InProcessRun | None":
        """The run training in this process right now, if any."""
        run = cls._latest
        return run if run is not None and run.thread is not None and run.thread.is_alive() else None

    def __init__(self, config: "RunConfig", output_dir: str | None = None, resume: str | None = None,
                 gpu: str | None = None, allow_changes: bool = False) -> None:
        from engine.record.rundir import run_dir_of
        from engine.run.control import RunControl

        self._config = config
        self.run_dir = str(run_dir_of(config, output_dir))
        self.resume = resume
        self.gpu = gpu
        """The GPU picked in the wizard (UUID), made the only visible one by the engine's rule; None: its default."""
        self.allow_changes = allow_changes
        """Resume although settings that shape training changed (`train --allow-changes`)."""
        self.control = RunControl()
        self.thread: threading.Thread | None = None
        self.result: "RunResult | None" = None

    @property
    def label(self) -> str:
        return self._config.name

    def config(self) -> "RunConfig | None":
        return self._config

    def start(self, put: Put) -> None:
        self.thread = threading.Thread(target=self._run, args=(put,), name="training", daemon=False)
        InProcessRun._latest = self
        self.thread.start()

    def _run(self, put: Put) -> None:
        from engine.errors import UserError
        from engine.run.multi.launcher import train_or_launch
        from engine.run.train import RunRequest
        from tui.monitor.logcapture import capture_library_logs

        put({"event": "status", "phase": "loading libraries", "time": time.time()})
        try:
            self.result = train_or_launch(RunRequest(self._config, self.run_dir, self.resume, [put], self.control,
                                                  gpu=self.gpu, on_writer=capture_library_logs,
                                                  allow_changes=self.allow_changes))
        except UserError as exc:  # before the run directory existed: nothing written, say why
            put({"event": "end", "status": "failed", "message": str(exc), "final_path": None, "time": time.time()})

    @property
    def stopped_from_outside(self) -> bool:
        """Whether a signal or `sft-wizard stop` stopped the run, not the monitor's own stop key."""
        return self.control.stop_requested.is_set() and self.control.stop_reason != MONITOR_STOP

    def stop(self) -> None:
        self.control.request_stop(MONITOR_STOP)

    def checkpoint(self) -> None:
        self.control.request_checkpoint()

    def toggle_pause(self) -> bool:
        return self.control.toggle_pause()


class AttachedRun(RunSource):
    """Follows a run directory's events.jsonl; requests go through files the trainer looks for."""

    kind = "attached"

    def __init__(self, run_dir: str) -> None:
        from engine.record.liveness import read_status

        self.run_dir = str(run_dir)
        self._closing = threading.Event()
        self.paused = False
        self.controllable = read_status(self.run_dir) == "running"
        self._milestones: list[dict] = []
        """The start and end events followed so far: all the status rule needs besides run.lock."""
        self._next_check = 0.0

    def start(self, put: Put) -> None:
        from engine.record.events import follow_events

        def follow() -> None:
            for event in follow_events(self.run_dir, self._closing, idle=self._died):
                put(event)
                if event.get("event") in ("start", "end"):
                    self._milestones.append(event)
                if event.get("event") == "end":
                    self.controllable = False
            if not self._closing.is_set():
                self.controllable = False
                put(self._death())

        threading.Thread(target=follow, name="follow-events", daemon=True).start()

    def _died(self) -> bool:
        """Whether the run's training process is gone (run.lock is looked at every LIVENESS_SECONDS at most)."""
        from engine.record.liveness import read_liveness, run_status

        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + LIVENESS_SECONDS
        return run_status(self._milestones, read_liveness(self.run_dir)) == "died"

    def _death(self) -> dict:
        """The `end` a run that died never wrote, for the monitor to show."""
        from engine.record.events import read_events
        from engine.record.liveness import death_note, read_liveness
        from engine.record.rundir import latest_checkpoint

        events, life = read_events(self.run_dir), read_liveness(self.run_dir)
        last_sign = max(life.heartbeat or 0.0, events[-1]["time"] if events else 0.0)
        checkpoint = latest_checkpoint(self.run_dir)
        then = f"press r to resume it from {Path(checkpoint).name}" if checkpoint else "it saved no checkpoint"
        return {"event": "end", "status": "died", "time": last_sign, "final_path": None,
                "message": f"the run {death_note(events, life)}; {then}"}

    def config(self) -> "RunConfig | None":
        from engine.errors import UserError
        from engine.record.rundir import run_config

        try:
            return run_config(self.run_dir)
        except UserError:  # no or unreadable run.yaml: no advice
            return None

    def stop(self) -> None:
        from engine.run.control import send_request

        send_request(self.run_dir, "stop")

    def checkpoint(self) -> None:
        from engine.run.control import send_request

        send_request(self.run_dir, "checkpoint")

    def toggle_pause(self) -> bool:
        from engine.run.control import send_request

        self.paused = not self.paused
        send_request(self.run_dir, "pause" if self.paused else "resume")
        return self.paused

    def close(self) -> None:
        self._closing.set()
