"""Reading, checking, converting and splitting a preset's dataset into what SFTTrainer trains on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.data.formats import apply_column_mapping, check_rows, resolve_format, resolve_template, to_training_row
from engine.data.learning import Learning, learn_rows, loss_settings
from engine.data.lengths import LengthStats, check_lengths, length_stats
from engine.data.reading import read_table
from engine.errors import UserError

if TYPE_CHECKING:
    from engine.config.run_config import DatasetSection, RunConfig


@dataclass
class PreparedData:
    """Train and eval datasets in a form SFTTrainer takes, and what was decided on the way."""

    train: Any
    eval: Any | None
    format: str
    template: str
    columns_found: list[str]
    warnings: list[str] = field(default_factory=list)
    stats: LengthStats | None = None
    """Token lengths of the training rows, once measured against max_length."""
    settings: dict = field(default_factory=dict)
    """The loss settings the rows were labelled with (engine.data.labels.row_labels)."""
    learning: Learning | None = None
    """The training rows as token ids and labels, exactly as the trainer gets them."""
    eval_learning: Learning | None = None
    notes: list[str] = field(default_factory=list)
    """What the model learns, said once (how assistant turns are found, what the template adds)."""

    @property
    def trained(self) -> Any:
        """The training rows SFTTrainer gets: input_ids and labels."""
        return self.learning.rows if self.learning is not None else None

    @property
    def evaluated(self) -> Any:
        """The eval rows SFTTrainer gets, or None."""
        return self.eval_learning.rows if self.eval_learning is not None else None


def prepare_data(section: "DatasetSection", tokenizer: Any = None) -> PreparedData:
    """Read, check, convert and split the data of a preset's dataset section."""
    source = f"dataset {section.path}"
    table = apply_column_mapping(read_table(section.path, section), section, source)
    columns_found = list(table.column_names)
    if len(table) == 0:
        raise UserError(f"{source} has no rows.")
    fmt = resolve_format(table, section, source)
    template = resolve_template(fmt, section.template)
    if template == "chat-template" and tokenizer is not None and not getattr(tokenizer, "chat_template", None):
        raise UserError(f"{source}: chat data needs the tokenizer's chat template, and this model's tokenizer has none; "
                        "use a chat (instruct) model or convert the data to alpaca format.")
    check_rows(table, fmt, source)
    if section.max_rows:
        table = table.select(range(min(section.max_rows, len(table))))
    converted = table.map(lambda row: to_training_row(row, fmt, template), remove_columns=table.column_names)
    eval_table = None
    if section.eval_path:
        eval_source = f"dataset {section.eval_path}"
        eval_raw = apply_column_mapping(read_table(section.eval_path, section), section, eval_source)
        if resolve_format(eval_raw, section, eval_source) != fmt and section.format == "auto":
            raise UserError(f"{eval_source} has a different format from the training data ({fmt}).")
        check_rows(eval_raw, fmt, eval_source)
        eval_table = eval_raw.map(lambda row: to_training_row(row, fmt, template), remove_columns=eval_raw.column_names)
    elif section.eval_split:
        if len(converted) < 2:
            raise UserError(f"{source} has {len(converted)} row(s): too few to hold out an eval split.")
        parts = converted.train_test_split(test_size=section.eval_split, seed=section.seed)
        converted, eval_table = parts["train"], parts["test"]
    return PreparedData(converted, eval_table, fmt, template, columns_found)


def prepare_for_training(config: "RunConfig", tokenizer: Any, rows: int | None = None) -> PreparedData:
    """The data exactly as training takes it: read, checked, converted, split, tokenized with its labels, warned about.

    Training, `check` and the wizard's preview all go through here, so they never disagree; `rows` labels only
    the first rows of each split (a check), None all of them (training).
    """
    data = prepare_data(config.dataset, tokenizer)
    if tokenizer is None:
        return data
    source = f"dataset {config.dataset.path}"
    data.settings = loss_settings(config, data.train, tokenizer, source)
    head = data.train.select(range(min(rows, len(data.train)))) if rows else data.train
    data.learning = learn_rows(head, tokenizer, data.settings, source)
    data.stats = length_stats(data.learning.lengths, data.settings["max_length"])
    data.warnings += check_lengths(data.stats, source)
    if len(data.learning.rows) == 0:
        raise UserError(f"{source}: no training row has anything to learn (every token's label is masked); "
                        "check that the rows hold assistant turns or completions.")
    data.warnings += data.learning.warnings
    data.notes += data.learning.notes
    if data.eval is not None:
        eval_head = data.eval.select(range(min(rows, len(data.eval)))) if rows else data.eval
        data.eval_learning = learn_rows(eval_head, tokenizer, data.settings, f"{source} (eval rows)")
        data.warnings += [f"eval: {warning}" for warning in data.eval_learning.warnings]
    return data
