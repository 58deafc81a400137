"""Turning preset YAML (and --set overrides) into a checked RunConfig, with every problem named."""

from __future__ import annotations

import copy
import difflib
import re
from typing import Iterable

from engine.config.legacy import apply_legacy_names
from engine.config.rules import check_config_rules
from engine.config.run_config import (
    DatasetSection,
    DistributedSection,
    ModelSection,
    MIXTURE_KEYS,
    RunConfig,
    all_specs,
)
from engine.config.schema import FieldSpec
from engine.errors import UserError, raise_problems
from engine.problems import Problem
from engine.yamlio import YamlError, YamlMapping, YamlValue, load_yaml

TOP_LEVEL = ("name", "description", "model", "quantization", "lora", "dataset", "training", "distributed", "optimized")


def parse_config(raw: YamlValue, source: str = "preset", overrides: list[str] | None = None) -> tuple[RunConfig, list[str]]:
    """Validate preset data (plus `--set` overrides) into a RunConfig and its warnings.

    Raises UserError listing every problem found, each naming the key, the value and what
    is expected.
    """
    config, warnings, problems = parse_config_collecting(raw, source, overrides)
    raise_problems(problems)
    return config, warnings


def parse_config_collecting(raw: YamlValue, source: str = "preset",
                            overrides: list[str] | None = None) -> tuple[RunConfig, list[str], list[Problem]]:
    """Like parse_config, but returns the problems beside a config of the valid settings."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{source}: a preset is a YAML mapping (name:, model:, training: …), not {type(raw).__name__}.")
    raw = copy.deepcopy(raw)
    for override in overrides or []:
        apply_override(raw, override)
    warnings: list[str] = []
    problems: list[Problem] = []
    apply_legacy_names(raw, warnings)
    for key in raw:
        if key not in TOP_LEVEL:
            problems.append(_unknown(source, key, None, TOP_LEVEL))
    specs = all_specs()
    sections: dict[str, YamlMapping | None] = {}
    for section in ("model", "dataset", "training", "lora", "quantization", "distributed"):
        value = raw.get(section)
        if value is None and section in ("lora", "quantization"):
            sections[section] = None
            continue
        if value is None:
            value = {}
        if not isinstance(value, dict):
            problems.append(Problem(f"`{section}` must be a mapping of settings, got {value!r}.", (section,), source=source))
            value = {}
        sections[section] = _checked_section(source, section, value, specs[section], problems)
    for key in ("name", "description"):
        if key in raw and not isinstance(raw[key], (str, type(None))):
            problems.append(Problem(f"`{key}` must be text, got {raw[key]!r}.", (key,), source=source))
    model = ModelSection(**sections["model"])
    if sections["dataset"].get("eval_split") == 0:  # `eval_split: 0` (or 0.0) means no evaluation split
        sections["dataset"]["eval_split"] = None
    for key in ("sources", "eval_sources"):
        if key in sections["dataset"]:
            sections["dataset"][key] = _checked_sources(source, key, sections["dataset"][key], specs["dataset"], problems)
    dataset = DatasetSection(**sections["dataset"])
    config = RunConfig(
        name=str(raw.get("name") or "untitled"),
        description=str(raw.get("description") or ""),
        model=model,
        quantization=sections["quantization"],
        lora=sections["lora"],
        dataset=dataset,
        training=sections["training"],
        distributed=DistributedSection(**sections["distributed"]),
        optimized=_optimized_record(raw.get("optimized"), source, problems),
    )


    rule_problems, rule_warnings = check_config_rules(config, source)
    problems.extend(rule_problems)
    warnings.extend(rule_warnings)
    return config, warnings, problems


def _checked_sources(source: str, key: str, entries: list, specs: dict[str, FieldSpec],
                     problems: list[Problem]) -> list[DatasetSection]:
    """dataset.sources (or eval_sources) as sections, each entry checked against the per-source keys."""
    own = {name: spec for name, spec in specs.items() if name not in MIXTURE_KEYS}
    out = []
    for index, entry in enumerate(entries):
        where = f"dataset.{key}[{index}]"
        if not isinstance(entry, dict):
            problems.append(Problem(f"{where} = {entry!r}: a source is a mapping of its settings,", (where,),
                                    "e.g. {path: data/train.jsonl, format: alpaca, share: 0.5}.", source))
            continue
        for name in entry:
            if name in MIXTURE_KEYS:
                problems.append(Problem(f"{where}.{name}: a setting of the whole mixture, not of one source;",
                                        (f"{where}.{name}",), f"set dataset.{name} beside dataset.{key}.", source))
        checked = _checked_section(source, where, {k: v for k, v in entry.items() if k not in MIXTURE_KEYS}, own, problems)
        out.append(DatasetSection(**checked))
    return out


def _optimized_record(value: YamlValue, source: str, problems: list[Problem]) -> dict | None:
    """The `optimized` record `sft-wizard optimize` writes: kept as it is, only its shape is checked."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("changes", []), list):
        problems.append(Problem("`optimized` is the record `sft-wizard optimize` writes ({from: ..., changes: [...]});",
                                ("optimized",), "remove it or restore that shape.", source))
        return None
    return value


def _checked_section(source: str, section: str, values: YamlMapping, specs: dict[str, FieldSpec],
                     problems: list[Problem]) -> YamlMapping:
    checked: YamlMapping = {}
    for key, value in values.items():
        spec = specs.get(key)
        if spec is None:
            problems.append(_unknown(source, key, section, specs))
            continue
        if not spec.accepts(value):
            problems.append(Problem(f"{section}.{key} = {value!r} is not valid:", (f"{section}.{key}",),
                                    f"expected {spec.expected()}.", source))
            continue
        if spec.choices and isinstance(value, str) and not _in_choices(value, spec.choices):
            close = difflib.get_close_matches(value, spec.choices, n=3, cutoff=0.5)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            listed = ", ".join(spec.choices[:10]) + (", …" if len(spec.choices) > 10 else "")
            problems.append(Problem(f"{section}.{key} = {value!r} is not one of {listed}.{hint}", (f"{section}.{key}",),
                                    source=source))
            continue
        checked[key] = value
    return checked


def _in_choices(value: str, choices: tuple[str, ...]) -> bool:
    return any(value == c or ("[" in c and value.startswith(c.split("[")[0])) for c in choices)


def _unknown(source: str, key: str, section: str | None, valid: Iterable[str]) -> Problem:
    where = f"in `{section}`" if section else "at the top level"
    close = difflib.get_close_matches(str(key), list(valid), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    owner = {"training": " (trl.SFTConfig)", "lora": " (peft.LoraConfig)", "quantization": " (transformers.BitsAndBytesConfig)"}.get(section or "", "")
    return Problem(f"unknown key `{key}` {where}{owner}.{hint}", (f"{section}.{key}" if section else str(key),),
                   source=source)


def apply_override(raw: YamlMapping, override: str) -> None:
    """Apply one `section.key=value` override (value read as YAML) to raw preset data."""
    if "=" not in override:
        raise UserError(f"--set {override!r}: expected section.key=value, e.g. training.learning_rate=1e-4 "
                        "(a source of a mixture: dataset.sources[1].share=0.5).")
    path, _, text = override.partition("=")
    try:
        value = load_yaml(text) if text.strip() else None
    except YamlError as exc:
        raise UserError(f"--set {override!r}: the value is not valid YAML ({exc.problem}{exc.where}).") from None
    keys = [k for k in path.strip().split(".") if k]
    if not keys or keys[0] not in TOP_LEVEL:
        close = difflib.get_close_matches(keys[0] if keys else "", TOP_LEVEL, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise UserError(f"--set {override!r}: `{path}` does not start with a preset section ({', '.join(TOP_LEVEL)}).{hint}")
    node = raw
    for key in keys[:-1]:
        name, index = _indexed(key)
        if index is None:
            child = node.get(name)
            if not isinstance(child, dict):
                child = node[name] = {}
            node = child
            continue
        listed = node.get(name)
        entry = listed[index] if isinstance(listed, list) and -len(listed) <= index < len(listed) else None
        if not isinstance(entry, dict):
            count = len(listed) if isinstance(listed, list) else 0
            raise UserError(f"--set {override!r}: `{name}` has {count} entr{'y' if count == 1 else 'ies'}, so there is "
                            f"no {key}; count from 0.")
        node = entry
    node[keys[-1]] = value


def _indexed(key: str) -> tuple[str, int | None]:
    """`sources[1]` as ("sources", 1); a plain key with None."""
    match = re.fullmatch(r"(\w+)\[(-?\d+)\]", key)
    return (match.group(1), int(match.group(2))) if match else (key, None)


def load_config_text(text: str, source: str, overrides: list[str] | None = None) -> tuple[RunConfig, list[str]]:
    """Parse preset YAML text into a validated RunConfig and warnings."""
    try:
        raw = load_yaml(text)
    except YamlError as exc:
        raise UserError(f"{source}: not valid YAML{exc.where}: {exc.problem}.") from None
    return parse_config(raw, source, overrides)
