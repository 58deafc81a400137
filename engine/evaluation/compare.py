"""Runs side by side: the settings that differ, final losses, eval scores, and every run's loss curve."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from engine.errors import UserError
from engine.yamlio import YamlMapping, YamlValue

LEFT_OUT = frozenset({"training.output_dir"})
"""Settings that differ between any two runs by necessity, so they say nothing."""


@dataclass
class RunColumn:
    """One run as a column of the comparison."""

    path: str
    name: str
    status: str
    final_train_loss: float | None
    final_eval_loss: float | None
    best_eval_loss: float | None
    train_curve: list[tuple[int, float]] = field(default_factory=list)
    eval_curve: list[tuple[int, float]] = field(default_factory=list)
    eval_scores: dict | None = None
    """RUN/eval/summary.json's models (base and fine_tuned), when the run has been evaluated."""


@dataclass
class Comparison:
    """Several runs: their columns and the settings in which they differ (dotted key -> one value per run)."""

    runs: list[RunColumn]
    differences: dict[str, list[YamlValue]]

    def as_dict(self) -> dict:
        """The comparison as plain data (for --json)."""
        return {"runs": [asdict(run) for run in self.runs], "differences": self.differences}


def compare_runs(run_dirs: list[str]) -> Comparison:
    """Read each run directory (run.yaml, events.jsonl, eval/summary.json) and line them up."""
    from engine.record.rundir import read_run_file

    if len(run_dirs) < 2:
        raise UserError("--compare needs two or more run directories.")
    configs, runs = [], []
    for run_dir in run_dirs:
        if not Path(run_dir).is_dir():
            raise UserError(f"--compare {run_dir}: no such run directory.")
        configs.append(flat_settings(read_run_file(run_dir)["config"]))
        runs.append(run_column(run_dir))
    return Comparison(runs, setting_differences(configs))


def run_column(run_dir: str) -> RunColumn:
    """One run's status, losses, curves and eval scores, from its record."""
    from engine.evaluation.report import read_summary
    from engine.record.events import read_events
    from engine.record.liveness import read_liveness, run_status
    from engine.record.state import RunState

    events = read_events(run_dir)
    state = RunState.from_events(events)
    summary = read_summary(run_dir)
    best = state.best_eval
    return RunColumn(str(run_dir), state.name or Path(run_dir).name, run_status(events, read_liveness(run_dir)),
                     state.train_loss[-1][1] if state.train_loss else None,
                     state.eval_loss[-1][1] if state.eval_loss else None, best[1] if best else None,
                     list(state.train_loss), list(state.eval_loss), summary.get("models") if summary else None)


def flat_settings(config: YamlMapping, prefix: str = "") -> dict[str, YamlValue]:
    """A config as dotted keys (training.learning_rate) to values; lists kept whole."""
    flat: dict[str, YamlValue] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flat_settings(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def setting_differences(configs: list[dict[str, YamlValue]]) -> dict[str, list[YamlValue]]:
    """The settings whose values are not the same in every run (absent counts as None)."""
    keys = sorted({key for config in configs for key in config} - LEFT_OUT)
    return {key: [config.get(key) for config in configs] for key in keys
            if any(config.get(key) != configs[0].get(key) for config in configs)}
