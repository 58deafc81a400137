"""What an import gives: the preset data read from a file, what was read and what was not, and the checked preset."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from engine.problems import Problem
from engine.yamlio import YamlValue

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig

PresetValue: TypeAlias = "YamlValue | list[PresetValue] | tuple[PresetValue, ...] | dict[str, PresetValue]"
"""A preset setting as an import reads it: a value as YAML gives it, or a literal of tutorial code (maybe a tuple)."""


@dataclass
class ImportResult:
    """The preset data read from code or another tool's config, and what was read and not read."""

    raw: dict[str, PresetValue]
    read: list[str] = field(default_factory=list)
    not_read: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What the user should know about what was read, said with the preset's own warnings."""

    def set(self, section: str, key: str, value: PresetValue, where: str) -> None:
        """Store one setting and say where it came from."""
        if self.raw.get(section) is None:
            self.raw[section] = {}
        self.raw[section][key] = value
        self.read.append(f"{section}.{key} = {value!r} (from {where})")


@dataclass
class ImportedPreset:
    """An imported file read into a run config, with what still needs the user."""

    result: ImportResult
    config: RunConfig
    """The RunConfig (fields the file does not set are left empty, never invented)."""
    warnings: list[str]
    to_complete: list[Problem]
    """Problems to fix before training, such as a model or dataset the file did not name."""


def finish_preset(result: ImportResult, path: str, name: str | None = None) -> ImportedPreset:
    """The imported data as a checked run config named after the file, its problems kept to complete."""
    from engine.config.parsing import parse_config_collecting
    from engine.config.rules import deepspeed_problems

    name = name or Path(path).stem
    result.raw["name"] = name
    result.raw["description"] = f"imported from {Path(path).name}"
    result.raw.setdefault("model", {}).setdefault("name_or_path", "")
    result.raw.setdefault("dataset", {}).setdefault("path", "")
    result.raw.setdefault("training", {}).setdefault("output_dir", f"runs/{name}")
    config, warnings, to_complete = parse_config_collecting(result.raw, path)
    to_complete += deepspeed_problems(config, path)  # a rule of this machine, said now as `check` and `train` will
    return ImportedPreset(result, config, result.warnings + warnings, to_complete)
