"""The rows a run is judged on: its held-out split, or a file, labelled by the same pipeline training used."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.errors import UserError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from engine.config.run_config import RunConfig


@dataclass
class EvalRow:
    """One row as trained (token ids and labels) and, split at its last learned span, a prompt and its reference."""

    index: int
    input_ids: list[int]
    labels: list[int]
    prompt_ids: list[int]
    """The tokens before the last learned span: what the model answers when generating."""
    reference_ids: list[int]
    """The last learned span: the answer the row teaches."""


@dataclass
class EvalRows:
    """The rows to judge and where they came from."""

    rows: list[EvalRow]
    source: str
    """`eval split of FILE` or the file given with --data."""
    notes: list[str] = field(default_factory=list)


def load_eval_rows(config: "RunConfig", tokenizer: "PreTrainedTokenizerBase", data_file: str | None = None, limit: int | None = None,
                   recorded_rows: int | None = None) -> EvalRows:
    """The run's held-out rows (or data_file's rows), labelled exactly as training labelled them, the first `limit`."""
    from engine.data.label.learning import learn_rows, loss_settings
    from engine.data.pipeline import prepare_data

    if limit is not None and limit < 1:
        raise UserError(f"--limit {limit}: give a number of rows, 1 or more.")
    notes: list[str] = []
    if data_file:
        # format auto: any format the run could train on (its template still renders alpaca rows as trained)
        section = dataclasses.replace(config.dataset, path=data_file, format="auto", eval_split=None, eval_path=None,
                                      max_rows=None, sources=[], eval_sources=[])  # the file alone, not the run's mixture
        prepared = prepare_data(section, tokenizer)
        table, source = prepared.train, data_file
    else:
        if config.dataset.is_mixture:
            raise UserError(f"the run mixed {len(config.dataset.training_sources())} data sources, and eval reads back the "
                            "held-out rows of one source only: give the rows to judge it on with --data FILE.")
        if not (config.dataset.eval_path or config.dataset.eval_split):
            raise UserError("the run held out no eval rows (dataset.eval_split and dataset.eval_path are unset in its "
                            "run.yaml): give rows to judge it on with --data FILE.")
        prepared = prepare_data(config.dataset, tokenizer)
        table = prepared.eval
        source = f"eval rows of {config.dataset.eval_path or config.dataset.path}"
        if recorded_rows is not None and len(table) != recorded_rows:
            notes.append(f"the run held out {recorded_rows} eval rows and {len(table)} are read now: "
                         f"{config.dataset.eval_path or config.dataset.path} changed since training.")
    if table is None or len(table) == 0:
        raise UserError(f"{source} has no rows to judge the run on.")
    if limit:
        table = table.select(range(min(limit, len(table))))
    settings = loss_settings(config, prepared.train, tokenizer, source)
    learning = learn_rows(table, tokenizer, settings, source)
    notes += learning.warnings
    rows = [_eval_row(index, ids, labels) for index, (ids, labels)
            in enumerate(zip(learning.rows["input_ids"], learning.rows["labels"]))]
    if not rows:
        raise UserError(f"{source}: no row has anything to learn, so there is nothing to judge.")
    return EvalRows(rows, source, notes)


def _eval_row(index: int, input_ids: list[int], labels: list[int]) -> EvalRow:
    """A labelled row split at its last learned span (engine.data.label.learning.learned_spans)."""
    from engine.data.label.learning import learned_spans

    start, end = learned_spans(labels)[-1]
    return EvalRow(index, list(input_ids), list(labels), list(input_ids[:start]), list(input_ids[start:end]))
