"""An eval written to RUN/eval/ (rows.jsonl, summary.json, report.md, all at once) and shown as a table."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import unicodedata
from pathlib import Path

from engine.evaluation.evaluate import EvalResult

EVAL_DIR = "eval"
SUMMARY_FILE = "summary.json"
ROWS_FILE = "rows.jsonl"
REPORT_FILE = "report.md"

SCORE_LINES = (("loss", "loss", "{:.4f}"), ("perplexity", "perplexity", "{:.2f}"), ("exact match", "exact_match", "{:.1%}"),
               ("ROUGE-L", "rougeL", "{:.3f}"), ("chrF", "chrf", "{:.1f}"), ("BLEU", "bleu", "{:.1f}"))
LOWER_IS_BETTER = frozenset({"loss", "perplexity"})


def write_eval(run_dir: str | Path, result: EvalResult) -> Path:
    """Write RUN/eval/ as a whole (staged beside it, then renamed over the previous one); returns the folder."""
    from engine.atomic import replace_folder

    run = Path(run_dir)
    staged = Path(tempfile.mkdtemp(dir=run, prefix=f".{EVAL_DIR}-"))
    try:
        (staged / SUMMARY_FILE).write_text(json.dumps(result.summary, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
        (staged / ROWS_FILE).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.rows),
                                        encoding="utf-8")
        (staged / REPORT_FILE).write_text(markdown_report(result), encoding="utf-8")
        replace_folder(staged, run / EVAL_DIR)
    except BaseException:  # a full disk, an interrupt: no half-written folder left in the run directory
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return run / EVAL_DIR


def read_eval(run_dir: str | Path) -> EvalResult | None:
    """The eval written in RUN/eval/ (summary and rows), or None when there is none whole to read."""
    summary = read_summary(run_dir)
    try:
        lines = (Path(run_dir) / EVAL_DIR / ROWS_FILE).read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError):
        return None
    return EvalResult(summary, rows) if summary and "models" in summary else None


def read_summary(run_dir: str | Path) -> dict | None:
    """RUN/eval/summary.json, or None when the run has not been evaluated (or the file cannot be read)."""
    try:
        data = json.loads((Path(run_dir) / EVAL_DIR / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def score_table(summary: dict) -> list[list[str]]:
    """Rows of [what, base, fine-tuned, change] for the scores and each lm-eval task metric."""
    models = summary["models"]
    table = []
    for label, key, fmt in SCORE_LINES:
        base, tuned = models["base"].get(key), models["fine_tuned"].get(key)
        table.append([label, _number(fmt, base), _number(fmt, tuned), _change(key, fmt, base, tuned)])
    for task, metrics in models["fine_tuned"].get("tasks", {}).items():
        for metric, tuned in metrics.items():
            base = models["base"].get("tasks", {}).get(task, {}).get(metric)
            table.append([f"{task} {metric.removesuffix(',none')}", _number("{:.4f}", base), _number("{:.4f}", tuned),
                          _change(metric, "{:.4f}", base, tuned)])
    return table


def text_report(result: EvalResult, width: int = 80) -> str:
    """The eval as a terminal table, then the rows where the fine-tuned model did worst."""
    summary = result.summary
    lines = [f"eval of {summary['run_dir']}: {summary['rows']} rows ({summary['source']}); base = {summary['base_is']}"]
    lines += [f"{'':<22}{'base':>12}{'fine-tuned':>12}{'change':>12}"]
    lines += [f"{what:<22}{base:>12}{tuned:>12}{change:>12}" for what, base, tuned, change in score_table(summary)]
    lines += ["", "rows where fine-tuned did worst (highest loss):"]
    by_row = {r["row"]: r for r in result.rows}
    for index in summary["worst_rows"]:
        row = by_row[index]
        lines.append(f"row {index}: loss base {row['base']['loss']:.3f}, fine-tuned {row['fine_tuned']['loss']:.3f}")
        for label, text in (("prompt", row["prompt"]), ("reference", row["reference"]),
                            ("base", row["base"]["answer"]), ("fine-tuned", row["fine_tuned"]["answer"])):
            lines.append(_clip(f"  {label + ':':<12}{_one_line(text)}", width))
    lines += [f"note: {note}" for note in summary.get("notes", [])]
    return "\n".join(lines)


def markdown_report(result: EvalResult) -> str:
    """A short Markdown report: the score table, the worst rows side by side, the metric signatures."""
    summary = result.summary
    out = [f"# Eval of {summary['run_dir']}", "",
           f"{summary['rows']} rows ({summary['source']}); base = {summary['base_is']}.", "",
           "| | base | fine-tuned | change |", "|---|---:|---:|---:|"]
    out += [f"| {what} | {base} | {tuned} | {change} |" for what, base, tuned, change in score_table(summary)]
    out += ["", "## Rows where fine-tuned did worst (highest loss)", "",
            "| row | prompt | reference | base | fine-tuned |", "|---|---|---|---|---|"]
    by_row = {r["row"]: r for r in result.rows}
    for index in summary["worst_rows"]:
        row = by_row[index]
        cells = [row["prompt"], row["reference"], row["base"]["answer"], row["fine_tuned"]["answer"]]
        out.append(f"| {index} | " + " | ".join(_cell(text) for text in cells) + " |")
    out += ["", "Exact match compares the stripped texts; ROUGE-L is rouge-score's F1 over sacrebleu's `zh` tokens; "
            f"sacrebleu: {summary['signatures']['chrf']}, {summary['signatures']['bleu']}."]
    out += [f"- note: {note}" for note in summary.get("notes", [])]
    return "\n".join(out) + "\n"


def _number(fmt: str, value: float | None) -> str:
    return "-" if value is None else fmt.format(value) if math.isfinite(value) else str(value)


def _change(key: str, fmt: str, base: float | None, tuned: float | None) -> str:
    """The change from base to fine-tuned, marked better or worse (lower is better for loss and perplexity)."""
    if base is None or tuned is None or not (math.isfinite(base) and math.isfinite(tuned)) or key == "perplexity":
        return ""
    difference = tuned - base
    better = difference < 0 if key in LOWER_IS_BETTER else difference > 0
    sign = "+" if difference >= 0 else "-"
    shown = fmt.format(abs(difference))
    return f"{sign}{shown} {'▲' if better else '▼' if difference else '='}"


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "(empty)"


def _clip(text: str, width: int) -> str:
    """text cut to `width` terminal columns (Chinese and other wide characters take two), marked with … when cut."""
    used = 0
    for position, char in enumerate(text):
        used += 2 if unicodedata.east_asian_width(char) in "WF" else 1
        if used > width:
            return text[:position - 1] + "…" if position else "…"
    return text


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")
