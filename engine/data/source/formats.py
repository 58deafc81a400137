"""The data formats sft-wizard reads, which every stage of a source speaks of: their columns, detection, template.

export-script copies detect_format and resolve_template (engine.outputs.script.CONVERSION_FUNCTIONS), and
FORMAT_COLUMNS and TURN_FLAGS with the conversion constants, into its scripts verbatim, so they use only builtins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config.run_config import DatasetSection

FORMAT_COLUMNS = {
    "alpaca": ("instruction", "output"),
    "chat": ("messages",),
    "sharegpt": ("conversations",),
    "prompt-completion": ("prompt", "completion"),
    "input-output": ("segments",),
    "text": ("text",),
}
OPTIONAL_COLUMNS = {"alpaca": ("input", "system", "history"), "chat": ("system", "tools", "functions"), "sharegpt": ("system", "tools")}
"""Columns a format's rows are also read from when the data has them (to_training_row)."""
TURN_FLAGS = ("weight", "train", "train_detail")
"""Keys of a turn that say whether (and which of) its text is learned: OpenAI's weight, Axolotl's train/train_detail."""


def detect_format(columns: list[str]) -> str | None:
    """The data format its columns suggest, or None."""
    names = set(columns)
    for fmt in ("chat", "sharegpt", "alpaca", "prompt-completion", "input-output", "text"):
        if set(FORMAT_COLUMNS[fmt]) <= names:
            return fmt
    return None


def resolve_template(fmt: str, template: str) -> str:
    """The template a format uses when the preset says auto."""
    if template != "auto":
        return template
    return {"alpaca": "alpaca", "chat": "chat-template", "sharegpt": "chat-template"}.get(fmt, "none")


def format_fix(section: "DatasetSection", fmt: str) -> str:
    """The one-line fix for a preset whose fixed format is not the file's: the format, and the template if it must go."""
    template = (f" (and {section.key('template')}: auto; {section.template} does not format {fmt} data)"
                if section.template not in ("auto", resolve_template(fmt, "auto")) else "")
    return f"set {section.key('format')}: {fmt} or auto{template}"
