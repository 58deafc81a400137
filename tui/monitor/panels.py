"""The monitor's panels as text and chart series, drawn from the run state alone."""

from __future__ import annotations

from rich.text import Text

from engine.record.event_text import format_event
from engine.record.state import RunState, format_duration, memory_reading
from engine.units import GIB, gib
from tui.monitor.charts import Series

ZOOM_POINTS = 50
"""How many of the latest points the zoomed charts show."""


def memory_series(state: RunState, estimate_bytes: int | None, zoomed: bool) -> tuple[list[Series], list[tuple[float, str]]]:
    """The memory chart's lines (per rank for several processes) and its horizontal marks: the GPU's size, the estimate."""
    samples = state.memory[-ZOOM_POINTS:] if zoomed else state.memory
    if any("ranks" in m for m in samples):
        return _rank_series(samples), []
    series = []
    for key, color in (("allocated_bytes", "green"), ("reserved_bytes", "yellow"), ("nvml_used_bytes", "red"),
                       ("rss_bytes", "green")):
        points = [(m["step"], m[key] / GIB) for m in samples if key in m]
        if points:
            series.append(Series(key.removesuffix("_bytes"), points, color))
    hlines = []
    total = state.device_total_bytes
    if total and any("nvml_used_bytes" in m for m in samples):
        hlines.append((total / GIB, "red"))
    if estimate_bytes and state.device != "cpu":
        hlines.append((estimate_bytes / 2**30, "blue"))
    return series, hlines


def stats_text(s: RunState, estimate_bytes: int | None) -> Text:
    """The line under the charts: rate, gradient norm, speed, peak memory; and the summary once the run ended."""
    text = Text()
    if s.learning_rate is not None:
        text.append("lr ", style="bold").append(f"{s.learning_rate:.2e}  ")
    if s.grad_norm is not None:
        text.append("grad ", style="bold").append(f"{s.grad_norm:.2f}  ")
    if s.tokens_per_second:
        text.append(f"{s.tokens_per_second:,.0f} tok/s  ")
    if s.samples_per_second:
        text.append(f"{s.samples_per_second:,.1f} samples/s  ")
    if s.ranks:
        text.append("peak per rank ", style="bold").append(
            " · ".join(f"{r.get('rank')}: {gib(memory_reading(r))}" for r in s.ranks) + "  ")
    peak = s.peak_memory_bytes
    if peak:
        what = "peak RSS" if s.device == "cpu" else "peak"
        text.append(f"{what} ", style="bold").append(gib(peak))
        if estimate_bytes and s.device != "cpu":
            text.append(f" (estimate {gib(estimate_bytes)})")
    if s.end:
        text.append("\n")
        text.append_text(_summary(s))
    return text


_LOG_STYLES = {"eval": "magenta", "checkpoint": "green", "status": "dim"}


RANK_COLORS = ("green", "yellow", "cyan", "magenta", "red", "blue", "white", "bright_green")


def _rank_series(samples: list[dict]) -> list[Series]:
    """One memory line per rank (allocated on a GPU, RSS on CPU), for a run of several processes."""
    by_rank: dict[int, list[tuple[float, float]]] = {}
    for sample in samples:
        for reading in sample.get("ranks") or []:
            value = reading.get("allocated_bytes") or reading.get("rss_bytes")
            if isinstance(value, (int, float)):
                by_rank.setdefault(int(reading.get("rank", 0)), []).append((sample["step"], value / GIB))
    return [Series(f"rank {rank}", points, RANK_COLORS[rank % len(RANK_COLORS)]) for rank, points in sorted(by_rank.items())]


def log_line(event: dict) -> Text | None:
    """An event as a styled line of the log panel: the headless printer's text (log events have panels)."""
    kind = event.get("event")
    line = format_event(event) if kind != "log" else None
    if line is None:
        return None
    if kind == "end":
        style = "bold green" if event.get("status") == "completed" else "bold red"
    elif kind == "status" and event.get("phase") == "warning":
        style = "yellow"
    else:
        style = _LOG_STYLES.get(str(kind), "")
    return Text(line, style=style)


def _summary(state: RunState) -> Text:
    end = state.end or {}
    text = Text.assemble(("finished: ", "bold"), f"{end.get('status')}  ")
    if state.train_loss:
        text.append(f"final train loss {state.train_loss[-1][1]:.4f}  ")
    best = state.best_eval
    if best:
        text.append(f"best eval loss {best[1]:.4f} at step {best[0]}  ")
    text.append(f"runtime {format_duration(state.elapsed())}  ")
    if end.get("final_path"):
        text.append(f"final/: {end['final_path']}", style="bold")  # what can be done with it: the footer's keys
    return text

