"""A comparison of runs as terminal text: one column per run, 80 columns wide for up to four runs."""

from __future__ import annotations

import math

from engine.evaluation.compare import Comparison, RunColumn
from engine.yamlio import YamlValue

LABEL = 26
COLUMN = 12
CURVE_POINTS = 5
EVAL_SCORES = (("loss", "loss", "{:.4f}"), ("exact match", "exact_match", "{:.1%}"), ("ROUGE-L", "rougeL", "{:.3f}"),
               ("chrF", "chrf", "{:.1f}"))


def run_letters(count: int) -> list[str]:
    """A, B, C, …: the names of the compared runs' columns."""
    return [chr(ord("A") + i) for i in range(count)]


def comparison_text(comparison: Comparison) -> str:
    """Runs (lettered), the settings that differ, final losses, eval scores and the sampled loss curves."""
    letters = run_letters(len(comparison.runs))
    lines = [f"{letter}  {run.path}  ({run.name}, {run.status})" for letter, run in zip(letters, comparison.runs)]
    lines += comparison_table(comparison)
    lines += ["", _header("train loss by step", letters)]
    lines += _curve_lines(comparison.runs)
    return "\n".join(lines)


def comparison_table(comparison: Comparison) -> list[str]:
    """The settings that differ, final losses and eval scores, one column per run."""
    runs = comparison.runs
    letters = run_letters(len(runs))
    lines = ["", _header("settings that differ", letters)]
    if not comparison.differences:
        lines.append("  (none: the runs were trained with the same settings)")
    lines += [_row(key, [_value(v) for v in values]) for key, values in comparison.differences.items()]
    lines += ["", _header("losses", letters)]
    lines.append(_row("final train loss", [_num("{:.4f}", run.final_train_loss) for run in runs]))
    lines.append(_row("final eval loss", [_num("{:.4f}", run.final_eval_loss) for run in runs]))
    lines.append(_row("best eval loss", [_num("{:.4f}", run.best_eval_loss) for run in runs]))
    return lines + ["", _header("eval scores (RUN/eval/)", letters)] + _eval_lines(runs)


def _eval_lines(runs: list[RunColumn]) -> list[str]:
    """Each run's `sft-wizard eval` scores, fine-tuned (base), where the run has been evaluated."""
    if not any(run.eval_scores for run in runs):
        return ["(no eval scores: run `sft-wizard eval RUN_DIR` on a run to add them)"]
    lines = []
    for label, key, fmt in EVAL_SCORES:
        lines.append(_row(f"{label} (fine-tuned)", [_num(fmt, _score(run, "fine_tuned", key)) for run in runs]))
        lines.append(_row(f"{label} (base)", [_num(fmt, _score(run, "base", key)) for run in runs]))
    return lines


def _score(run: RunColumn, model: str, key: str) -> float | None:
    value = ((run.eval_scores or {}).get(model) or {}).get(key)
    return value if isinstance(value, (int, float)) else None


def _curve_lines(runs: list[RunColumn]) -> list[str]:
    """The train loss of every run at a few steps spread over the longest run: the curves side by side."""
    last = max((run.train_curve[-1][0] for run in runs if run.train_curve), default=0)
    if not last:
        return ["(no train loss logged)"]
    steps = sorted({max(1, round(last * i / (CURVE_POINTS - 1))) for i in range(CURVE_POINTS)})
    return [_row(f"step {step}", [_num("{:.4f}", loss_at(run.train_curve, step)) for run in runs]) for step in steps]


def loss_at(curve: list[tuple[int, float]], step: int) -> float | None:
    """The last logged loss at or before `step` (None before the first log, or after the run's last step)."""
    if not curve or step > curve[-1][0] + (curve[-1][0] - curve[-2][0] if len(curve) > 1 else 0):
        return None
    earlier = [loss for at, loss in curve if at <= step]
    return earlier[-1] if earlier else None


def _header(title: str, letters: list[str]) -> str:
    return f"{title:<{LABEL}}" + "".join(f"{letter:>{COLUMN}}" for letter in letters)


def _row(label: str, cells: list[str]) -> str:
    label = label if len(label) < LABEL else label[:LABEL - 2] + "…"
    return f"{label:<{LABEL}}" + "".join(f"{cell[-(COLUMN - 1):]:>{COLUMN}}" for cell in cells)


def _num(fmt: str, value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else fmt.format(value)


def _value(value: YamlValue) -> str:
    return "-" if value is None else str(value)
