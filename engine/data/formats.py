"""Reading training data, detecting its format, and turning rows into what SFTTrainer trains on.

Alpaca rows become prompt/completion pairs (so completion-only loss knows the learned part),
chat and ShareGPT rows become `messages` for the tokenizer's chat template, text rows stay text.
export-script copies the pure conversion functions (engine.outputs.script.CONVERSION_FUNCTIONS) into its
scripts verbatim, so they use only builtins and this module's constants, and raise no UserError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.config.templates import ALPACA_TEMPLATES
from engine.errors import UserError

if TYPE_CHECKING:
    from engine.config.run_config import DatasetSection

FORMAT_COLUMNS = {
    "alpaca": ("instruction", "output"),
    "chat": ("messages",),
    "sharegpt": ("conversations",),
    "prompt-completion": ("prompt", "completion"),
    "text": ("text",),
}
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
                   "system": "system", "bot": "assistant"}


def detect_format(columns: list[str]) -> str | None:
    """The data format its columns suggest, or None."""
    names = set(columns)
    for fmt in ("chat", "sharegpt", "alpaca", "prompt-completion", "text"):
        if set(FORMAT_COLUMNS[fmt]) <= names:
            return fmt
    return None


def column_renames(columns: dict) -> dict:
    """dataset.columns (our name -> the data's column name) as renames from the data's name to ours."""
    return {theirs: ours for ours, theirs in columns.items() if theirs != ours}


def rename_columns(table, renames: dict):
    """The table with its columns renamed, replacing any column that already has the new name."""
    clashing = [ours for ours in renames.values() if ours in table.column_names]
    if clashing:
        table = table.remove_columns(clashing)
    return table.rename_columns(renames) if renames else table


def apply_column_mapping(table: Any, section: "DatasetSection", source: str) -> Any:
    """The table with dataset.columns applied; UserError naming any mapped column the file lacks."""
    renames = column_renames(section.columns or {})
    missing = [theirs for theirs in renames if theirs not in table.column_names]
    if missing:
        raise UserError(f"{source}: dataset.columns maps to {', '.join(missing)}, but the data has columns "
                        f"{', '.join(table.column_names)}.")
    return rename_columns(table, renames)


def resolve_format(table: Any, section: "DatasetSection", source: str) -> str:
    """The format to use: the configured one, checked against the columns, or the detected one."""
    columns = table.column_names
    if section.format == "auto":
        fmt = detect_format(columns)
        if fmt is None:
            raise UserError(
                f"{source}: cannot tell the data format from its columns ({', '.join(columns)}). Expected one of: "
                "instruction/input/output (alpaca), messages (chat), conversations (sharegpt), prompt/completion, text. "
                "Map yours with dataset.columns, e.g. {instruction: question, output: answer}.")
        return fmt
    needed = [c for c in FORMAT_COLUMNS[section.format] if c not in columns]
    if needed:
        raise UserError(f"{source}: dataset.format is {section.format} and needs column(s) {', '.join(needed)}, "
                        f"but the data has {', '.join(columns)}. Map them with dataset.columns "
                        f"(e.g. {{{needed[0]}: {columns[0]}}}) or choose the right format.")
    return section.format


def resolve_template(fmt: str, template: str) -> str:
    """The template a format uses when the preset says auto."""
    if template != "auto":
        return template
    return {"alpaca": "alpaca", "chat": "chat-template", "sharegpt": "chat-template"}.get(fmt, "none")


def to_training_row(row: dict, fmt: str, template: str) -> dict:
    """One row in the shape SFTTrainer takes: prompt/completion, messages, or text."""
    if fmt == "alpaca":
        pattern = ALPACA_TEMPLATES[template if template in ALPACA_TEMPLATES else "alpaca"]
        values = {"instruction": str(row["instruction"]), "input": str(row.get("input") or "")}
        prompt = pattern["with_input" if values["input"].strip() else "no_input"].format(**values)
        return {"prompt": prompt, "completion": str(row["output"])}
    if fmt == "sharegpt":
        return {"messages": [{"role": _SHAREGPT_ROLES.get(str(turn.get("from")), str(turn.get("from"))),
                              "content": str(turn.get("value", ""))} for turn in row["conversations"]]}
    if fmt == "chat":
        return {"messages": [{"role": m["role"], "content": m["content"]} for m in row["messages"]]}
    if fmt == "prompt-completion":
        return {"prompt": str(row["prompt"]), "completion": str(row["completion"])}
    return {"text": str(row["text"])}


def check_rows(table: Any, fmt: str, source: str) -> None:
    """UserError naming the first row (1-based) that the format cannot train on."""
    for number, row in enumerate(table, start=1):
        if fmt == "alpaca":
            for column in ("instruction", "output"):
                value = row[column]
                if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
                    raise UserError(f"{source}: row {number} has an empty or non-text `{column}` ({value!r}).")
        elif fmt in ("chat", "sharegpt"):
            turns = row[FORMAT_COLUMNS[fmt][0]]
            if not isinstance(turns, list) or not turns:
                raise UserError(f"{source}: row {number}: `{FORMAT_COLUMNS[fmt][0]}` must be a non-empty list of turns.")
            keys = ("role", "content") if fmt == "chat" else ("from", "value")
            for turn in turns:
                if not isinstance(turn, dict) or any(k not in turn for k in keys):
                    raise UserError(f"{source}: row {number}: each turn needs {' and '.join(keys)}; found {turn!r}.")
        elif fmt == "text" and (not isinstance(row["text"], str) or not row["text"].strip()):
            raise UserError(f"{source}: row {number} has an empty `text`.")
