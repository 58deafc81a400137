"""The run configuration: one object read from a preset's YAML, validated, and written back.

`training`, `lora` and `quantization` hold keyword arguments of SFTConfig, LoraConfig and
BitsAndBytesConfig verbatim; their names and types come from those classes (engine.schema).
`model` and `dataset` are sft-wizard's own sections, defined here.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

from engine.errors import UserError
from engine.legacy import apply_legacy_names
from engine.schema import FieldSpec, dataclass_specs, schema
from engine.yamlio import dump_yaml, load_yaml

DATASET_FORMATS = ("auto", "alpaca", "chat", "sharegpt", "text", "prompt-completion")
TEMPLATES = ("auto", "alpaca", "alpaca-zh", "chat-template", "none")
DTYPES = ("auto", "bfloat16", "float16", "float32")


@dataclass
class ModelSection:
    """Which model to fine-tune and how to load it."""

    name_or_path: str = field(default="tiny-demo", metadata={"help": "A Hub id, a local directory, or tiny-demo."})
    dtype: str = field(default="auto", metadata={"help": "Weights dtype: auto (from the GPU), bfloat16, float16 or float32."})
    attn_implementation: str | None = field(default=None, metadata={"help": "sdpa, eager or flash_attention_2; empty for the model's default."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Run code shipped with the model (off unless you trust it)."})
    revision: str | None = field(default=None, metadata={"help": "A branch, tag or commit of a Hub model."})


@dataclass
class DatasetSection:
    """Where the training data is and how it becomes text."""

    path: str = field(default="", metadata={"help": "A local JSON, JSONL, CSV or Parquet file, or a Hub dataset id."})
    format: str = field(default="auto", metadata={"help": "alpaca, chat, sharegpt, text, prompt-completion, or auto to detect."})
    template: str = field(default="auto", metadata={"help": "alpaca, alpaca-zh, chat-template, none, or auto to pick from the format."})
    eval_split: float | None = field(default=None, metadata={"help": "Share of rows held out for evaluation (0 < x < 1)."})
    eval_path: str | None = field(default=None, metadata={"help": "A separate evaluation file, instead of eval_split."})
    columns: dict = field(default_factory=dict, metadata={"help": "Column mapping, e.g. {instruction: question, output: answer}."})
    split: str = field(default="train", metadata={"help": "The split to read from a Hub dataset."})
    subset: str | None = field(default=None, metadata={"help": "The configuration name of a Hub dataset."})
    max_rows: int | None = field(default=None, metadata={"help": "Use at most this many training rows."})
    seed: int = field(default=42, metadata={"help": "Seed of the train/eval split."})


@dataclass
class RunConfig:
    """Everything one fine-tuning run needs; what the wizard edits and presets store."""

    name: str = "untitled"
    description: str = ""
    model: ModelSection = field(default_factory=ModelSection)
    quantization: dict | None = None
    lora: dict | None = field(default_factory=lambda: {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"})
    dataset: DatasetSection = field(default_factory=DatasetSection)
    training: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data in preset order, sections of own fields without defaults."""
        return {
            "name": self.name,
            "description": self.description,
            "model": _non_default(self.model, keep=("name_or_path", "dtype")),
            "quantization": copy.deepcopy(self.quantization),
            "lora": copy.deepcopy(self.lora),
            "dataset": _non_default(self.dataset, keep=("path", "format", "template")),
            "training": copy.deepcopy(self.training),
        }

    def to_yaml(self) -> str:
        """The config as preset YAML."""
        return dump_yaml(self.to_dict())

    def copy(self) -> "RunConfig":
        """A deep copy, for edits that must not touch the original."""
        return copy.deepcopy(self)

    @property
    def output_dir(self) -> str:
        """The run directory: training.output_dir, or runs/NAME."""
        return str(self.training.get("output_dir") or f"runs/{self.name}")

    def training_value(self, key: str) -> Any:
        """A training setting as it will be used: the preset's value or SFTConfig's default."""
        if key in self.training:
            return self.training[key]
        spec = schema()["training"].get(key)
        return spec.default if spec else None


def _non_default(section: Any, keep: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if f.name in keep or value != default:
            out[f.name] = copy.deepcopy(value)
    return out


def own_specs() -> dict[str, dict[str, FieldSpec]]:
    """Specs of sft-wizard's own sections, in the same form as the library ones."""
    out = {}
    for section, cls in (("model", ModelSection), ("dataset", DatasetSection)):
        out[section] = {name: FieldSpec(name=name, kinds=tuple(s["kinds"]), choices=tuple(s["choices"]), default=s["default"], help=s["help"])
                        for name, s in dataclass_specs(cls).items()}
    out["model"]["dtype"] = dataclasses.replace(out["model"]["dtype"], choices=DTYPES)
    out["dataset"]["format"] = dataclasses.replace(out["dataset"]["format"], choices=DATASET_FORMATS)
    out["dataset"]["template"] = dataclasses.replace(out["dataset"]["template"], choices=TEMPLATES)
    return out


def all_specs() -> dict[str, dict[str, FieldSpec]]:
    """Field specs of every section of a preset."""
    return {**own_specs(), **schema()}


TOP_LEVEL = ("name", "description", "model", "quantization", "lora", "dataset", "training")


def parse_config(raw: Any, source: str = "preset", overrides: list[str] | None = None) -> tuple[RunConfig, list[str]]:
    """Validate preset data (plus `--set` overrides) into a RunConfig and its warnings.

    Raises UserError listing every problem found, each naming the key, the value and what
    is expected.
    """
    config, warnings, problems = parse_config_collecting(raw, source, overrides)
    if problems:
        raise UserError(problems[0], problems)
    return config, warnings


def parse_config_collecting(raw: Any, source: str = "preset",
                            overrides: list[str] | None = None) -> tuple[RunConfig, list[str], list[str]]:
    """Like parse_config, but returns the problems beside a config of the valid settings."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{source}: a preset is a YAML mapping (name:, model:, training: …), not {type(raw).__name__}.")
    raw = copy.deepcopy(raw)
    for override in overrides or []:
        apply_override(raw, override)
    warnings: list[str] = []
    problems: list[str] = []
    apply_legacy_names(raw, warnings)
    for key in raw:
        if key not in TOP_LEVEL:
            problems.append(_unknown(source, key, None, TOP_LEVEL))
    specs = all_specs()
    sections: dict[str, Any] = {}
    for section in ("model", "dataset", "training", "lora", "quantization"):
        value = raw.get(section)
        if value is None and section in ("lora", "quantization"):
            sections[section] = None
            continue
        if value is None:
            value = {}
        if not isinstance(value, dict):
            problems.append(f"{source}: `{section}` must be a mapping of settings, got {value!r}.")
            value = {}
        sections[section] = _checked_section(source, section, value, specs[section], problems)
    for key in ("name", "description"):
        if key in raw and not isinstance(raw[key], (str, type(None))):
            problems.append(f"{source}: `{key}` must be text, got {raw[key]!r}.")
    model = ModelSection(**sections["model"])
    dataset = DatasetSection(**sections["dataset"])
    config = RunConfig(
        name=str(raw.get("name") or "untitled"),
        description=str(raw.get("description") or ""),
        model=model,
        quantization=sections["quantization"],
        lora=sections["lora"],
        dataset=dataset,
        training=sections["training"],
    )
    from engine.rules import check_config_rules

    rule_problems, rule_warnings = check_config_rules(config, source)
    problems.extend(rule_problems)
    warnings.extend(rule_warnings)
    return config, warnings, problems


def _checked_section(source: str, section: str, values: dict, specs: dict[str, FieldSpec], problems: list[str]) -> dict:
    checked = {}
    for key, value in values.items():
        spec = specs.get(key)
        if spec is None:
            problems.append(_unknown(source, key, section, specs))
            continue
        if not spec.accepts(value):
            problems.append(f"{source}: {section}.{key} = {value!r} is not valid: expected {spec.expected()}.")
            continue
        if spec.choices and isinstance(value, str) and not _in_choices(value, spec.choices):
            close = difflib.get_close_matches(value, spec.choices, n=3, cutoff=0.5)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            listed = ", ".join(spec.choices[:10]) + (", …" if len(spec.choices) > 10 else "")
            problems.append(f"{source}: {section}.{key} = {value!r} is not one of {listed}.{hint}")
            continue
        checked[key] = value
    return checked


def _in_choices(value: str, choices: tuple[str, ...]) -> bool:
    return any(value == c or ("[" in c and value.startswith(c.split("[")[0])) for c in choices)


def _unknown(source: str, key: str, section: str | None, valid: Any) -> str:
    where = f"in `{section}`" if section else "at the top level"
    close = difflib.get_close_matches(str(key), list(valid), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    owner = {"training": " (trl.SFTConfig)", "lora": " (peft.LoraConfig)", "quantization": " (transformers.BitsAndBytesConfig)"}.get(section or "", "")
    return f"{source}: unknown key `{key}` {where}{owner}.{hint}"


def apply_override(raw: dict, override: str) -> None:
    """Apply one `section.key=value` override (value read as YAML) to raw preset data."""
    if "=" not in override:
        raise UserError(f"--set {override!r}: expected section.key=value, e.g. training.learning_rate=1e-4.")
    path, _, text = override.partition("=")
    try:
        value = load_yaml(text) if text.strip() else None
    except Exception as exc:  # yaml.YAMLError
        raise UserError(f"--set {override!r}: the value is not valid YAML ({exc}).") from None
    keys = [k for k in path.strip().split(".") if k]
    if not keys or keys[0] not in TOP_LEVEL:
        close = difflib.get_close_matches(keys[0] if keys else "", TOP_LEVEL, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise UserError(f"--set {override!r}: `{path}` does not start with a preset section ({', '.join(TOP_LEVEL)}).{hint}")
    node = raw
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[keys[-1]] = value


def load_config_text(text: str, source: str, overrides: list[str] | None = None) -> tuple[RunConfig, list[str]]:
    """Parse preset YAML text into a validated RunConfig and warnings."""
    try:
        raw = load_yaml(text)
    except Exception as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"{source}: not valid YAML{where}: {problem}.") from None
    return parse_config(raw, source, overrides)
