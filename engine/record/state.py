"""The state of a run as rebuilt from its events: what every view of a run draws from."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class RunState:
    """Progress, curves, memory and outcome of a run, fed one event at a time."""

    name: str = ""
    run_dir: str = ""
    phase: str = "starting"
    total_steps: int = 0
    step: int = 0
    epoch: float = 0.0
    started: float | None = None
    last_time: float | None = None
    start_step: int = 0
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    eval_loss: list[tuple[int, float]] = field(default_factory=list)
    learning_rate: float | None = None
    grad_norm: float | None = None
    tokens_per_second: float | None = None
    samples_per_second: float | None = None
    memory: list[dict] = field(default_factory=list)
    device: str = ""
    device_total_bytes: int | None = None
    device_free_bytes: int | None = None
    """Memory free on the device when the run started (other processes hold the rest)."""
    precision: str = ""
    world_size: int = 1
    strategy: str = ""
    ranks: list[dict] = field(default_factory=list)
    """Every rank's latest memory reading (several processes only), in rank order."""
    estimate_bytes: int | None = None
    warnings: list[str] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    end: dict | None = None
    _step_times: list[tuple[float, int]] = field(default_factory=list)

    def apply(self, event: dict) -> None:
        """Fold one event into the state."""
        kind = event.get("event")
        now = float(event.get("time") or time.time())
        self.last_time = now
        if kind == "start":
            self.total_steps = int(event.get("total_steps") or 0)
            self.start_step = self.step = int(event.get("start_step") or 0)
            self.started = now
            self.device = str(event.get("device") or "")
            self.device_total_bytes = event.get("device_total_bytes")
            self.device_free_bytes = event.get("device_free_bytes")
            self.precision = str(event.get("precision") or "")
            self.world_size = int(event.get("world_size") or 1)
            self.strategy = str(event.get("strategy") or "")
            self.estimate_bytes = event.get("estimate_bytes") or self.estimate_bytes
            self.name = str(event.get("name") or self.name)
            self.run_dir = str(event.get("run_dir") or self.run_dir)
            self.end = None
            self._step_times = [(now, self.step)]
        elif kind == "status":
            if "device_free_bytes" in event:  # loading: the memory an out-of-memory before the start is advised on
                self.device_total_bytes, self.device_free_bytes = event.get("device_total_bytes"), event["device_free_bytes"]
                self.precision = str(event.get("precision") or self.precision)
            if event.get("phase") == "warning":
                self.warnings.append(str(event.get("message")))
            else:
                self.phase = str(event.get("phase"))
        elif kind == "log":
            self.phase = "training" if self.phase in ("starting", "tokenizing", "loading model") else self.phase
            self.step = int(event.get("step") or self.step)
            self.epoch = float(event.get("epoch") or self.epoch)
            self.total_steps = int(event.get("total_steps") or self.total_steps)
            if isinstance(event.get("loss"), (int, float)):
                self.train_loss.append((self.step, float(event["loss"])))
            self.learning_rate = event.get("learning_rate", self.learning_rate)
            self.grad_norm = event.get("grad_norm", self.grad_norm)
            self.tokens_per_second = event.get("tokens_per_second") or self.tokens_per_second
            self.samples_per_second = event.get("samples_per_second") or self.samples_per_second
            self._step_times.append((now, self.step))
            self._step_times = self._step_times[-20:]
            memory = {k: v for k, v in event.items() if k.endswith("_bytes")}
            if isinstance(event.get("ranks"), list):
                self.ranks = [r for r in event["ranks"] if isinstance(r, dict)]
                memory["ranks"] = self.ranks
            if memory:
                self.memory.append({"step": self.step, **memory})
                if self.device_total_bytes is None and "nvml_total_bytes" in memory:
                    self.device_total_bytes = memory["nvml_total_bytes"]
        elif kind == "eval":
            if isinstance(event.get("eval_loss"), (int, float)):
                self.eval_loss.append((int(event.get("step") or self.step), float(event["eval_loss"])))
        elif kind == "checkpoint":
            self.checkpoints.append(str(event.get("path")))
        elif kind == "end":
            self.end = dict(event)
            if isinstance(event.get("global_step"), int):
                self.step = event["global_step"]
            if isinstance(event.get("epoch"), (int, float)):
                self.epoch = float(event["epoch"])
            self.phase = {"completed": "done", "stopped": "stopped", "failed": "failed",
                          "died": "died"}.get(str(event.get("status")), "done")

    @property
    def finished(self) -> bool:
        """Whether the run has ended."""
        return self.end is not None

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since the (last) start."""
        if self.started is None:
            return 0.0
        end = (self.end or {}).get("time") or now or time.time()
        return max(0.0, float(end) - self.started)

    def eta_seconds(self) -> float | None:
        """Seconds left at the recent pace, or None before there is a pace."""
        if len(self._step_times) < 2 or not self.total_steps or self.finished:
            return None
        (t0, s0), (t1, s1) = self._step_times[0], self._step_times[-1]
        if s1 <= s0 or t1 <= t0:
            return None
        return (self.total_steps - self.step) * (t1 - t0) / (s1 - s0)

    @property
    def devices(self) -> str:
        """The device, with the process count and strategy when several processes train."""
        return f"{self.device} ×{self.world_size} {self.strategy}" if self.world_size > 1 else self.device

    @property
    def peak_memory_bytes(self) -> int | None:
        """The highest memory reading of this run (its own NVML figure, else reserved, on a GPU; RSS on CPU)."""
        values = [memory_reading(m) for m in self.memory]
        return max(values) if values else None

    @property
    def best_eval(self) -> tuple[int, float] | None:
        """(step, eval loss) of the lowest eval loss."""
        return min(self.eval_loss, key=lambda p: p[1]) if self.eval_loss else None

    @classmethod
    def from_events(cls, events: list[dict]) -> "RunState":
        """The state after every event of a run, in order."""
        state = cls()
        for event in events:
            state.apply(event)
        return state

    def summary(self) -> dict:
        """The numbers an `end` event and run lists report: losses, best eval, runtime and steps."""
        best = self.best_eval
        return {
            "final_loss": self.train_loss[-1][1] if self.train_loss else None,
            "first_loss": self.train_loss[0][1] if self.train_loss else None,
            "best_eval_loss": best[1] if best else None,
            "best_eval_step": best[0] if best else None,
            "global_step": self.train_loss[-1][0] if self.train_loss else None,
        }


def memory_reading(memory: dict) -> int:
    """The reading that best says how much memory a process holds: its own NVML figure, else reserved, on a GPU; RSS on CPU."""
    return (memory.get("process_used_bytes") or memory.get("nvml_used_bytes") or memory.get("peak_bytes")
            or memory.get("peak_rss_bytes") or memory.get("rss_bytes") or 0)


def format_duration(seconds: float | None) -> str:
    """Seconds as h:mm:ss (or ? when unknown)."""
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
