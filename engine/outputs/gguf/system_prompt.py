"""The system prompt a run's training data gave every row, if it gave one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import UserError

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig


def shared_system_prompt(config: "RunConfig") -> str | None:
    """The one system text every training row starts with (alpaca `system` column or chat system turn), else None."""
    from engine.data.source.check import resolve_format
    from engine.data.source.convert import to_training_row
    from engine.data.source.formats import resolve_template
    from engine.data.source.map import mapped
    from engine.data.source.normalise import normalised
    from engine.data.source.read import read_table

    section = config.dataset
    if section.is_mixture or not Path(section.path).expanduser().is_file():  # a mixture's rows have no one system prompt
        return None  # a Hub dataset (never fetched for this) or data moved since training: no SYSTEM line
    try:
        name = f"dataset {section.path}"
        table = normalised(mapped(read_table(section.path, section), section, name), section, name, [])
        fmt = resolve_format(table, section, name)
    except UserError:
        return None  # the data changed since training: the Modelfile is written without a system prompt
    texts = set()
    for row in table:
        if fmt == "alpaca":
            texts.add(str(row.get("system") or "").strip())
        elif fmt in ("chat", "sharegpt"):
            messages = to_training_row(row, fmt, resolve_template(fmt, section.template))["messages"]
            texts.add(str(messages[0]["content"]).strip() if messages and messages[0]["role"] == "system" else "")
        else:
            return None
        if len(texts) > 1:
            return None
    text = texts.pop() if texts else ""
    return text or None
