"""One source's stages, top to bottom: read, map, normalise, check, convert (one module each).

read       engine.data.source.read       the file or Hub dataset as a table, its bytes checked as text
map        engine.data.source.map        dataset.columns, message_keys and roles renamed to ours
normalise  engine.data.source.normalise  what is not SFT data refused; message tables and usual pairs read
check      engine.data.source.check      the format resolved against the columns, every row checked
convert    engine.data.source.convert    rows in SFTTrainer's shape, fitted to the chat template

engine.data.source.formats holds what every stage speaks of: the formats, their columns, their templates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.data.source.check import checked
from engine.data.source.convert import converted
from engine.data.source.map import mapped
from engine.data.source.normalise import normalised
from engine.data.source.read import read_table

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

    from engine.config.run_config import DatasetSection


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
    """Read, map, normalise, check and convert one source (fitted to the chat template when there is a tokenizer)."""
    warnings: list[str] = []
    table = read_table(section.path, section)
    table = mapped(table, section, name)
    table = normalised(table, section, name, warnings)
    columns_found = list(table.column_names)
    fmt, unused = checked(table, section, name)
    warnings += unused
    if section.max_rows:
        table = table.select(range(min(section.max_rows, len(table))))
    rows, template, fitted = converted(table, fmt, section.template, tokenizer, name)
    return SourceRows(section, name, rows, fmt, template, columns_found, warnings + fitted)
