"""Field specs of SFTConfig, LoraConfig and BitsAndBytesConfig, read from the real classes.

The specs (name, accepted types, choices, default, help) are the schema of a preset's
`training`, `lora` and `quantization` sections. Reading them needs trl, which takes seconds to
import, so they are cached as JSON keyed by the installed library versions.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import re
import typing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engine.atomic import write_text_atomic
from engine.paths import cache_dir
from engine.yamlio import YamlValue

WIZARD_MEANINGS = {
    "training": {
        "assistant_only_loss": {
            "default": True,
            "help": "Learn only the assistant's turns of chat data, each with its end-of-turn token; false trains "
                    "on the prompt too (system and user turns). sft-wizard's default: true for chat data. "
                    "sft-wizard labels the rows itself (TRL's training templates or turn-by-turn rendering), so "
                    "SFTTrainer gets the labels and assistant_only_loss=False.",
        },
    },
}
"""Fields whose default and meaning in a preset are sft-wizard's own, not the library's."""

_PY_KINDS = {"bool": bool, "int": int, "float": float, "str": str, "list": list, "dict": dict}


@dataclass(frozen=True)
class FieldSpec:
    """One keyword argument of a real config class."""

    name: str
    kinds: tuple[str, ...]
    """Accepted value types among bool, int, float, str, list, dict, none; empty means any."""
    choices: tuple[str, ...] = ()
    """Allowed string values when the field is an enum or a Literal."""
    default: YamlValue = None
    help: str = ""

    def accepts(self, value: YamlValue) -> bool:
        """Whether a YAML value has a type this field takes."""
        if not self.kinds:
            return True
        if value is None:
            return "none" in self.kinds
        if isinstance(value, bool):
            return "bool" in self.kinds
        if isinstance(value, int) and "float" in self.kinds:
            return True
        return any(
            isinstance(value, _PY_KINDS[k]) for k in self.kinds if k in _PY_KINDS
        )

    def expected(self) -> str:
        """Words for what this field takes, for error messages."""
        words = [k if k != "none" else "null" for k in self.kinds] or ["any value"]
        if self.choices:
            words.append("one of " + ", ".join(self.choices[:12]) + ("…" if len(self.choices) > 12 else ""))
        return " or ".join(words)


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries whose classes define the schema (cheap, no imports)."""
    from importlib import metadata  # 8 ms, not needed before the first screen

    versions = {}
    for name in ("trl", "transformers", "peft", "torch", "datasets", "accelerate", "bitsandbytes"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def versions_key(versions: dict[str, str] | None = None) -> str:
    """The trl/transformers/peft versions (the installed ones unless given), as a file-name part."""
    versions = versions or library_versions()
    return "-".join(f"{k}{versions[k]}" for k in ("trl", "transformers", "peft"))


BUNDLED_DIR = Path(__file__).resolve().parent.parent / "models" / "catalog"
"""Where scripts/build_catalog.py writes the schema for the library versions it was built with."""


@lru_cache(maxsize=1)
def schema() -> dict[str, dict[str, FieldSpec]]:
    """The specs of every section, from the cache or built from the real classes."""
    key = versions_key()
    path = cache_dir() / f"schema-{key}.json"
    bundled = BUNDLED_DIR / f"schema-{key}.json"
    try:
        raw = json.loads((bundled if bundled.is_file() else path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raw = _build_raw_schema_apart()
        try:
            write_text_atomic(path, json.dumps(raw))
        except OSError:
            pass  # a read-only cache only costs time
    return {
        section: {name: FieldSpec(name=name, **{**spec, "kinds": tuple(spec["kinds"]), "choices": tuple(spec["choices"]),
                                                **WIZARD_MEANINGS.get(section, {}).get(name, {})})
                  for name, spec in fields.items()}
        for section, fields in raw.items()
    }


def _build_raw_schema_apart() -> dict[str, dict[str, dict]]:
    """The schema built in a child process that sees no GPU, else here."""
    return build_apart("engine.config.schema", "_build_raw_schema")


def build_apart(module: str, function: str) -> YamlValue:
    """What module.function() returns (JSON data), computed in a child process that sees no GPU, else here.

    Importing the libraries (bitsandbytes among them) starts CUDA, and the process reading a
    preset has not chosen its GPU yet: CUDA would then see every GPU (see engine.machine.gpu_choice).
    """
    import importlib
    import os
    import subprocess
    import sys

    code = f"import json; from {module} import {function}; print(json.dumps({function}()))"
    env = os.environ | {"CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    try:
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        if child.returncode == 0:
            return json.loads(child.stdout.splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        pass
    return getattr(importlib.import_module(module), function)()  # where the child failed, the same error here says what is wrong


def _build_raw_schema() -> dict[str, dict[str, dict]]:
    from peft import LoraConfig
    from transformers import BitsAndBytesConfig
    from trl import SFTConfig

    return {
        "training": dataclass_specs(SFTConfig),
        "lora": dataclass_specs(LoraConfig, skip={"peft_type", "auto_mapping", "peft_version", "base_model_name_or_path", "revision", "inference_mode"}),
        "quantization": _signature_specs(BitsAndBytesConfig),
    }


def dataclass_specs(cls: type, skip: set[str] = frozenset()) -> dict[str, dict]:
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # forward references some versions cannot resolve
        hints = {}
    specs = {}
    for field in dataclasses.fields(cls):
        if field.name.startswith("_") or field.name in skip or not field.init:
            continue
        annotation = hints.get(field.name, field.type)
        kinds, choices = _kinds_of(annotation)
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = field.default_factory()  # type: ignore[misc]
        else:
            default = None
        specs[field.name] = {
            "kinds": kinds,
            "choices": choices,
            "default": _jsonable(default),
            "help": " ".join(str(field.metadata.get("help", "")).split()),
        }
    return specs


def _signature_specs(cls: type) -> dict[str, dict]:
    helps = _docstring_args(cls.__doc__ or "")
    specs = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        default = param.default if param.default is not param.empty else None
        annotated = param.annotation is not param.empty
        kinds, choices = _kinds_of(param.annotation) if annotated else _kinds_of_default(name, default)
        specs[name] = {"kinds": kinds, "choices": choices, "default": _jsonable(default), "help": helps.get(name, "")}
    return specs


def _kinds_of_default(name: str, default: object) -> tuple[list[str], list[str]]:
    if "dtype" in name or "storage" in name:
        return ["str", "none"], []
    if isinstance(default, bool):
        return ["bool"], []
    if isinstance(default, float):
        return ["float"], []
    if isinstance(default, str):
        return ["str"], []
    if name.endswith("modules"):
        return ["list", "none"], []
    return [], []


def _kinds_of(annotation: object) -> tuple[list[str], list[str]]:
    """Accepted kinds and choices of a type annotation (objects or strings)."""
    if isinstance(annotation, str):
        return _kinds_of_string(annotation)
    kinds: list[str] = []
    choices: list[str] = []
    origin = typing.get_origin(annotation)
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        for arg in typing.get_args(annotation):
            sub_kinds, sub_choices = _kinds_of(arg)
            if not sub_kinds:
                return [], []
            kinds += [k for k in sub_kinds if k not in kinds]
            choices += [c for c in sub_choices if c not in choices]
        return kinds, choices
    if origin is typing.Literal:
        values = typing.get_args(annotation)
        for v in values:
            kind = "none" if v is None else type(v).__name__
            if kind not in kinds:
                kinds.append(kind)
        return kinds, [v for v in values if isinstance(v, str)]
    if annotation is type(None) or annotation is None:
        return ["none"], []
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        return ["str"], [str(m.value) for m in annotation]
    base = origin or annotation
    for kind, py in _PY_KINDS.items():
        if base is py:
            return [kind], []
    if base in (tuple,):
        return ["list"], []
    return [], []  # a class we cannot check from YAML: accept anything


def _kinds_of_string(text: str) -> tuple[list[str], list[str]]:
    kinds: list[str] = []
    for word in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text):
        kind = {"Optional": "none", "None": "none", "NoneType": "none"}.get(word, word)
        if kind in ("bool", "int", "float", "str", "list", "dict", "none") and kind not in kinds:
            kinds.append(kind)
        elif word[0].isupper() and word not in ("Optional", "Union", "Literal", "None", "NoneType"):
            return [], []  # names another class (a nested config): accept anything
    literal = re.search(r"Literal\[(.*?)\]", text)
    choices = re.findall(r"'([^']*)'", literal.group(1)) if literal else []
    if literal and "str" not in kinds:
        kinds.append("str")
    return kinds, choices


def _docstring_args(doc: str) -> dict[str, str]:
    helps: dict[str, str] = {}
    current = None
    for line in doc.splitlines():
        match = re.match(r"\s{4,8}(\w+) \(`.*?`.*?\):\s*$", line)
        if match:
            current = match.group(1)
            helps[current] = ""
        elif current and line.strip():
            helps[current] = (helps[current] + " " + line.strip()).strip()
        elif current and not line.strip() and helps[current]:
            current = None
    return helps


def _jsonable(value: object) -> YamlValue:
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return None
