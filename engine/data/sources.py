"""One source's stage: read, normalise, check and convert its rows into the shape SFTTrainer takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.data.chat_fit import fit_to_chat_template
from engine.data.formats import (
    FORMAT_COLUMNS,
    OPTIONAL_COLUMNS,
    PROMPT_PART_COLUMNS,
    apply_column_mapping,
    chat_features,
    column_renames,
    detect_format,
    format_fix,
    rename_columns,
    resolve_format,
    resolve_template,
    to_training_row,
    usual_pair,
)
from engine.data.message_trees import is_message_table, top_ranked_conversations
from engine.data.messages import apply_message_mapping
from engine.data.reading import read_table, table_from_rows
from engine.data.row_checks import check_rows
from engine.data.shapes import refuse_unsupported
from engine.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase
    from engine.config.run_config import DatasetSection


def read_checked(path: str, section: "DatasetSection", source: str, notes: list[str]) -> Dataset:
    """The file's rows with dataset.columns (or a usual column pair, noted) applied, refused if not SFT data."""
    table = apply_message_mapping(apply_column_mapping(read_table(path, section), section, source), section)
    refuse_unsupported(table, source, section.key("columns"))
    if is_message_table(table.column_names):
        return rebuilt_conversations(table, section, source, notes)
    if section.format == "auto" and detect_format(table.column_names) is None:
        pair = usual_pair(table.column_names)
        if pair:
            table = rename_columns(table, column_renames(pair))
            passage = (f", and `{pair['input']}` as the input written into the prompt (the passage the answer draws "
                       "on; an answer learned without it teaches the model to invent)") if "input" in pair else ""
            notes.append(f"{source}: no known format; reading column `{pair['instruction']}` as the instruction and "
                         f"`{pair['output']}` as the answer (alpaca){passage}. Set {section.key('columns')} to choose others.")
    return table


def rebuilt_conversations(table: Dataset, section: "DatasetSection", source: str, notes: list[str]) -> Dataset:
    """A message table (OpenAssistant's flat export) as chat rows, one conversation per tree, noted; refused otherwise."""
    if section.format not in ("auto", "chat"):
        raise UserError(f"{source} is a message table (message_id, parent_id, role, text: one message per row, "
                        f"OpenAssistant's flat export), not {section.format} data: sft-wizard rebuilds its "
                        f"conversations as chat data; {format_fix(section, 'chat')}.")
    conversations, trees, left_out = top_ranked_conversations(table.to_list())
    if not conversations:
        raise UserError(f"{source} is a message table (OpenAssistant's flat export), but none of its {trees} trees "
                        "has an assistant reply to learn.")
    notes.append(f"{source}: a message table (one message per row, OpenAssistant's flat export): rebuilt "
                 f"{len(conversations)} conversations from {trees} trees, one per tree, following the top-ranked "
                 f"reply (rank 0 first) at every branch to its last assistant turn, so no prompt is learned twice "
                 f"with different answers; {left_out} messages (other branches, deleted ones) are left out.")
    return table_from_rows([{"messages": messages} for messages in conversations])


def unused_columns(columns: list[str], fmt: str, source: str, columns_key: str) -> list[str]:
    """A warning naming the columns that training does not read; UserError for one that holds part of the prompt."""
    used = FORMAT_COLUMNS[fmt] + OPTIONAL_COLUMNS.get(fmt, ())
    unused = [column for column in columns if column not in used]
    parts = [column for column in unused if column in PROMPT_PART_COLUMNS]
    if parts:
        raise UserError(f"{source}: column `{parts[0]}` holds part of the prompt, and {fmt} rows do not read it, so "
                        f"the answers would be learned without it. {_prompt_part_fix(parts[0], columns, fmt, columns_key)}")
    if not unused:
        return []
    return [f"{source}: column(s) {', '.join(unused)} are not used in training ({fmt} rows are read from "
            f"{', '.join(c for c in used if c in columns)})."]


def _prompt_part_fix(column: str, columns: list[str], fmt: str, columns_key: str) -> str:
    """How to have a prompt column read: mapped to alpaca's input, or written into the rows."""
    if fmt == "alpaca" and "input" not in columns:
        return f"Map it with {columns_key}: {{input: {column}}} (alpaca writes the input into the prompt)."
    if fmt == "alpaca":
        return f"Alpaca rows have one input (`input`): join `{column}` into it, or remove the column."
    where = {"chat": "the conversations (e.g. the system or first user turn)", "sharegpt": "the conversations",
             "prompt-completion": "the prompt"}.get(fmt, "the rows")
    return f"Write its text into {where}, or remove the column."


def convert(table: Dataset, fmt: str, template: str) -> Dataset:
    """Every row in the shape SFTTrainer takes (to_training_row), chat rows kept exactly as converted."""
    return table.map(lambda row: to_training_row(row, fmt, template), remove_columns=table.column_names,
                     features=chat_features(fmt, table))


@dataclass
class SourceRows:
    """One source read, normalised, checked and converted: its rows in the shape SFTTrainer takes."""

    section: "DatasetSection"
    name: str
    """How messages name it: `dataset PATH`."""
    table: Dataset
    format: str
    template: str
    columns_found: list[str]
    warnings: list[str] = field(default_factory=list)


def prepare_source(section: "DatasetSection", tokenizer: PreTrainedTokenizerBase | None, name: str) -> SourceRows:
    """Read, check and convert one source (fitted to the chat template when there is a tokenizer)."""
    warnings: list[str] = []
    table = read_checked(section.path, section, name, warnings)
    columns_found = list(table.column_names)
    if len(table) == 0:
        raise UserError(f"{name} has no rows.")
    fmt = resolve_format(table, section, name)
    check_rows(table, fmt, name)
    warnings += unused_columns(table.column_names, fmt, name, section.key("columns"))
    if section.max_rows:
        table = table.select(range(min(section.max_rows, len(table))))
    converted = convert(table, fmt, resolve_template(fmt, section.template))
    template = "chat-template" if "messages" in converted.column_names else resolve_template(fmt, section.template)
    chat = template == "chat-template" and tokenizer is not None
    if chat and not getattr(tokenizer, "chat_template", None):
        raise UserError(f"{name}: chat data needs the tokenizer's chat template, and this model's tokenizer has none; "
                        "use a chat (instruct) model or convert the data to alpaca format.")
    if chat:
        converted, fitted = fit_to_chat_template(converted, tokenizer, name)
        warnings += fitted
    return SourceRows(section, name, converted, fmt, template, columns_found, warnings)
