"""Another tool's flat YAML config read key by key: each key it sets lands in the preset or is listed as not read."""

from __future__ import annotations

from typing import Callable, TypeVar

from engine.config.legacy import REMOVED, RENAMED
from engine.config.schema import schema
from engine.importing.result import ImportResult, PresetValue
from engine.yamlio import YamlMapping, YamlValue

Entry = TypeVar("Entry")
"""One dataset entry of a config: a LLaMA-Factory dataset name, an Axolotl or TRL mapping."""


class ConfigReader:
    """One config's keys, each taken once: read into a preset setting, noted, or listed as not read."""

    def __init__(self, result: ImportResult, config: YamlMapping, tool: str) -> None:
        self.result, self.tool = result, tool
        self.config = {key: value for key, value in config.items() if value is not None}
        self.taken: set[str] = set()
        unset = [str(key) for key, value in config.items() if value is None]
        if unset:  # `key:` with no value sets nothing: the tool uses its default
            result.read.append(f"left empty, so {tool}'s defaults: {', '.join(unset)}")

    def has(self, key: str) -> bool:
        """Whether the config sets the key."""
        return key in self.config

    def take(self, key: str, default: YamlValue = None) -> YamlValue:
        """The key's value (default when unset), marked as handled."""
        self.taken.add(key)
        value = self.config.get(key)
        return default if value is None else value

    def copy(self, key: str, section: str, ours: str | None = None, value: YamlValue = None) -> bool:
        """Read the key into section.ours (its own value, or `value` when given); False when the config lacks it."""
        if key not in self.config or key in self.taken:
            return False
        self.taken.add(key)
        self.result.set(section, ours or key, self.config[key] if value is None else value, f"{self.tool} {key}")
        return True

    def default(self, section: str, key: str, value: YamlValue, why: str) -> None:
        """A setting the tool uses when its config does not say, written so the preset trains the same way."""
        if self.result.raw.get(section) is None:
            self.result.raw[section] = {}
        self.result.raw[section][key] = value
        self.result.read.append(f"{section}.{key} = {value!r} ({self.tool}'s default: {why})")

    def note(self, key: str, what: str) -> None:
        """A key that needs no preset setting, and why."""
        if key in self.config and key not in self.taken:
            self.taken.add(key)
            self.result.read.append(f"{key} = {self.config[key]!r}: {what}")

    def skip(self, key: str, why: str) -> None:
        """A key with no counterpart, listed as not read with why."""
        if key in self.config and key not in self.taken:
            self.taken.add(key)
            self.result.not_read.append(f"{key} = {self.config[key]!r}: {why}")

    def compute_dtype(self) -> None:
        """QLoRA's compute dtype: the run's bf16 or fp16, as LLaMA-Factory and Axolotl set it."""
        dtype = "bfloat16" if self.config.get("bf16") is True else "float16" if self.config.get("fp16") is True else None
        if dtype:
            self.default("quantization", "bnb_4bit_compute_dtype", dtype, "the run's precision")

    def training_keys(self) -> None:
        """Every remaining key that is an SFTConfig (TrainingArguments) setting, read into training verbatim."""
        names = schema()["training"]
        for key in list(self.config):
            if key not in self.taken and (key in names or ("training", key) in RENAMED or ("training", key) in REMOVED):
                self.copy(key, "training")

    def finish(self) -> None:
        """List every key not taken as not read."""
        for key, value in self.config.items():
            if key not in self.taken:
                self.result.not_read.append(f"{key} = {value!r}: no sft-wizard setting ({self.tool})")


def read_dataset_entry(result: ImportResult, entry: YamlMapping, where: str, path_key: str = "path",
                       subset_key: str = "name") -> None:
    """dataset.path (a file, folder or Hub id), the data_files inside it, subset and split from one dataset entry."""
    files = entry.get("data_files")
    files = files[0] if isinstance(files, list) and len(files) == 1 else files
    if entry.get(path_key):
        result.set("dataset", "path", entry[path_key], f"{where}.{path_key}")
    if files:
        result.set("dataset", "data_files", files, f"{where}.data_files")
    if entry.get(subset_key):
        result.set("dataset", "subset", entry[subset_key], f"{where}.{subset_key}")
    if entry.get("split", "train") != "train":
        result.set("dataset", "split", entry["split"], f"{where}.split")


def read_sources(result: ImportResult, entries: list[Entry], read_one: Callable[[ImportResult, Entry, str], None],
                 key: str = "sources") -> None:
    """Each dataset entry read by read_one into a source: one training entry as dataset's own keys, else a list.

    read_one(sub_result, entry, where) reads one entry into sub_result.raw["dataset"]; what it read is said under
    the source's key (dataset.sources[1].path), its problems and warnings kept.
    """
    several = key != "sources" or len(entries) > 1
    sources: list[PresetValue] = []
    for index, entry in enumerate(entries):
        sub = ImportResult(raw={"dataset": {}})
        read_one(sub, entry, f"[{index}]")
        prefix = f"dataset.{key}[{len(sources)}]." if several else "dataset."
        result.read += [prefix + line[len("dataset."):] if line.startswith("dataset.") else line for line in sub.read]
        result.not_read += sub.not_read
        result.warnings += sub.warnings
        if sub.raw["dataset"].get("path"):
            sources.append(sub.raw["dataset"])
    if not several and sources:
        result.raw["dataset"].update(sources[0])
    elif sources:
        result.raw["dataset"][key] = sources
