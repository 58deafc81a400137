"""`sft-wizard eval`: a finished run judged against its base, on held-out rows and lm-eval tasks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import UserError
from engine.evaluation.rows import EvalRows

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from engine.config.run_config import RunConfig
    from engine.evaluation.harness import TaskSet
    from engine.outputs.generate import GeneratingModel, Generator

WORST_ROWS = 5
MODELS = ("base", "fine_tuned")


@dataclass
class EvalRequest:
    """What to judge a run on."""

    run_dir: str
    data_file: str | None = None
    """Rows from this file instead of the run's held-out split."""
    limit: int | None = None
    """At most this many rows (and documents per lm-eval task)."""
    tasks: list[str] = field(default_factory=list)
    """lm-eval task names, or task YAML files."""


@dataclass
class EvalResult:
    """The judgment: summary (losses, scores, tasks, notes) and one record per row."""

    summary: dict
    rows: list[dict]


def evaluate_run(request: EvalRequest, progress: Callable[[str], None] = lambda line: None) -> EvalResult:
    """Judge the run's fine-tuned model against its base: loss, greedy answers' scores, lm-eval tasks."""
    from engine.evaluation.extra import require_eval_extra
    from engine.record.rundir import read_run_file, run_config

    require_eval_extra(harness=bool(request.tasks))
    record = read_run_file(request.run_dir)
    config = run_config(request.run_dir)
    tasks = _task_set(request.tasks)
    progress("loading the fine-tuned model")
    generator = _load(request.run_dir)
    from engine.evaluation.rows import load_eval_rows

    rows = load_eval_rows(config, generator.tokenizer, request.data_file, request.limit,
                          (record.get("data") or {}).get("eval_rows") if not request.data_file else None)
    measured = {}
    for which in ("fine_tuned", "base"):
        with _model(generator, config, which) as model:
            measured[which] = _measure(model, generator.tokenizer, rows, tasks, request.limit,
                                       lambda step: progress(f"{which.replace('_', '-')}: {step}"))
    return _result(request, rows, generator, measured)


def _task_set(specs: list[str]) -> "TaskSet | None":
    """The lm-eval tasks, checked before any model loads (UserError for an unknown or unreachable one)."""
    if not specs:
        return None
    from engine.evaluation.harness import TaskSet

    return TaskSet(specs)


def _load(run_dir: str) -> "Generator":
    """The run's final/ model with its tokenizer (engine.outputs.generate); UserError when it cannot be loaded."""
    from safetensors import SafetensorError

    from engine.outputs.generate import load_generator

    try:
        generator = load_generator(run_dir)
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as exc:  # damaged or missing weight files
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise UserError(f"{Path(run_dir) / 'final'} cannot be loaded ({type(exc).__name__}: {first}); "
                        "train the run to the end again, or restore final/ from a checkpoint.") from None
    if generator.tokenizer.pad_token_id is None:
        generator.tokenizer.pad_token = generator.tokenizer.eos_token
    return generator


@contextmanager
def _model(generator: "Generator", config: "RunConfig", which: str) -> Iterator["GeneratingModel"]:
    """The fine-tuned model, or the base: the same model with its adapter off, or the base weights loaded for a full run."""
    if which == "fine_tuned":
        yield generator.model
    elif generator.is_peft:
        with generator.model.disable_adapter():
            yield generator.model
    else:
        yield _full_base(config, generator)


def _full_base(config: "RunConfig", generator: "Generator") -> "PreTrainedModel":
    """The base model of a full fine-tuning run, placed as the fine-tuned one was."""
    from transformers import AutoModelForCausalLM

    from engine.models.hub import model_location
    from engine.outputs.generate import generation_placement

    placement = generation_placement(config, None)
    try:
        model = AutoModelForCausalLM.from_pretrained(model_location(config.model), revision=config.model.revision,
                                                     **placement.load_kwargs)
    except OSError as exc:
        raise UserError(f"the base model {config.model.name_or_path!r} cannot be loaded to compare with ({exc}).") from None
    return model.eval()


def _measure(model: "GeneratingModel", tokenizer: "PreTrainedTokenizerBase", rows: EvalRows, tasks: "TaskSet | None", limit: int | None,
             progress: Callable[[str], None]) -> dict:
    """One model's row losses, greedy answers and task metrics."""
    from engine.evaluation.answers import greedy_answers
    from engine.evaluation.losses import row_losses

    progress(f"loss on {len(rows.rows)} rows")
    losses = row_losses(model, rows.rows)
    progress(f"greedy answers to {len(rows.rows)} prompts")
    answers = greedy_answers(model, tokenizer, rows.rows)
    task_metrics = {}
    if tasks is not None:
        from engine.evaluation.harness import evaluate_tasks

        progress(f"lm-eval tasks {', '.join(tasks.names)}")
        task_metrics = evaluate_tasks(model, tokenizer, tasks, limit)
    return {"losses": losses, "answers": answers, "tasks": task_metrics}


def _result(request: EvalRequest, rows: EvalRows, generator: "Generator", measured: dict) -> EvalResult:
    """Scores per row and overall, the worst rows, and the summary."""
    from engine.evaluation.answers import prompt_text, reference_text
    from engine.evaluation.losses import mean_loss, perplexity
    from engine.evaluation.metrics import score_corpus, score_rows

    references = [reference_text(generator.tokenizer, row) for row in rows.rows]
    records = [{"row": row.index, "prompt": prompt_text(generator.tokenizer, row), "reference": reference} for row, reference
               in zip(rows.rows, references)]
    notes = rows.notes + ([generator.note] if generator.note else [])
    models: dict[str, dict[str, float | dict[str, dict[str, float]]]] = {}
    signatures: dict[str, str] = {}
    for which in MODELS:
        answers, losses = measured[which]["answers"], measured[which]["losses"]
        per_row = score_rows(answers, references)
        corpus, signatures = score_corpus(answers, references, per_row)
        loss = mean_loss(losses)
        models[which] = {"loss": loss, "perplexity": perplexity(loss), **corpus.as_dict(), "tasks": measured[which]["tasks"]}
        for record, answer, row_loss, scores in zip(records, answers, losses, per_row):
            record[which] = {"answer": answer, "loss": row_loss.mean, **scores.as_dict()}
    worst = sorted(records, key=lambda r: r["fine_tuned"]["loss"], reverse=True)[:WORST_ROWS]
    if request.tasks and request.limit:
        notes.append(f"lm-eval tasks limited to their first {request.limit} documents (--limit): a quick look, "
                     "not a score to compare with published ones")
    summary = {"run_dir": str(request.run_dir), "source": rows.source, "rows": len(rows.rows),
               "base_is": "the adapter switched off" if generator.is_peft else "the base model's weights",
               "notes": notes, "models": models, "signatures": signatures, "worst_rows": [r["row"] for r in worst]}
    return EvalResult(summary, records)
