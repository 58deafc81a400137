"""The values tutorial code binds, worked out from the syntax tree alone: literals, names, calls, parsed arguments.

A value is a plain literal (str, number, bool, None, list, tuple, dict), or one of the records
below: `Unknown` for whatever only running the code would give, `Call` for the result of a call
(its arguments evaluated), `Instance` for dataclass objects and parsed command-line arguments.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Callable, TypeAlias, TypeGuard

# Names that stand for the same value whatever the code does around them.
_DTYPES = {"bfloat16": "bfloat16", "float16": "float16", "float32": "float32", "half": "float16",
           "float": "float32", "bf16": "bfloat16"}
_ENUMS = ("TaskType",)


# What a configuration object parsed from the command line was given there (Call.unpacked).
COMMAND_LINE = "<the command-line arguments>"

Value: TypeAlias = ("str | bytes | int | float | complex | bool | None | EllipsisType | list[Value] "
                    "| tuple[Value, ...] | dict[str | int | float | bool, Value] | Unknown | Imported | Call | Instance "
                    "| ClassValue | FunctionValue | ParserValue")
"""What an expression of tutorial code evaluates to: a Python constant, a list, tuple or dict of values, or a record."""

Plain: TypeAlias = "str | int | float | bool | None | list[Plain] | tuple[Plain, ...] | dict[str, Plain]"
"""A value that is a literal all the way down: what a preset can hold."""


@dataclass(frozen=True)
class Unknown:
    """A value only running the code would give; `source` says what, as written."""

    source: str


@dataclass(frozen=True)
class Imported:
    """A module or a name imported from one, by its full dotted name."""

    name: str


@dataclass(frozen=True)
class Call:
    """The result of a call: what was called, its evaluated arguments, and the object it was called on."""

    name: str
    args: tuple[Value, ...] = ()
    kwargs: dict[str, Value] = field(default_factory=dict)
    receiver: Value = None
    unpacked: tuple[str, ...] = ()
    """`*x` and `**x` arguments whose contents are not known, as written."""
    written: str = field(default="", compare=False)
    """The call as the code writes it."""

    @property
    def short(self) -> str:
        """The called name without its modules: `from_pretrained`, `SFTConfig`."""
        return self.name.rsplit(".", 1)[-1]

    @property
    def owner(self) -> str:
        """The name before the last dot: `FastLanguageModel` for FastLanguageModel.from_pretrained."""
        parts = self.name.split(".")
        return parts[-2] if len(parts) > 1 else ""

    def argument(self, position: int, *keywords: str) -> Value:
        """The argument given at `position` or by one of `keywords`, or None when absent."""
        for keyword in keywords:
            if keyword in self.kwargs:
                return self.kwargs[keyword]
        return self.args[position] if 0 <= position < len(self.args) else None


@dataclass(frozen=True)
class Instance:
    """An object with known attributes: a dataclass made in the file, or parsed command-line arguments."""

    kind: str
    fields: dict[str, Value]
    open_fields: bool = False
    """True for a class defined elsewhere, whose attributes come from the command line."""


@dataclass(frozen=True)
class ClassValue:
    """A class defined in the file, with the defaults of its fields in order."""

    name: str
    fields: dict[str, Value]
    is_dataclass: bool
    library_base: str = ""
    """The library class it extends (`class MyTrainer(SFTTrainer)`), whose calls it stands for."""


@dataclass(frozen=True)
class FunctionValue:
    """A function defined in the file, and the scope it sees."""

    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    scope: "Scope"


@dataclass
class ParserValue:
    """An argparse parser or an HfArgumentParser/TrlParser, with what it parses into."""

    kind: str
    defaults: dict[str, Value] = field(default_factory=dict)
    classes: tuple[Value, ...] = ()


class Scope:
    """The names bound in a module or a function body, seeing those of the scope around it."""

    def __init__(self, parent: Scope | None = None, names: dict[str, Value] | None = None) -> None:
        self.parent = parent
        self.names: dict[str, Value] = dict(names or {})

    def lookup(self, name: str) -> Value:
        """The value bound to `name` here or around, or Unknown when it is bound nowhere."""
        scope: Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return Unknown(name)

    def branch(self) -> Scope:
        """A copy whose own names can change without touching this scope's."""
        return Scope(self.parent, self.names)


def is_plain(value: Value) -> TypeGuard[Plain]:
    """Whether a value is a literal all the way down (what a preset can hold)."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return True
    if isinstance(value, (list, tuple)):
        return all(is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain(v) for k, v in value.items())
    return False


def describe(value: Value) -> str:
    """A value as the code wrote it, for the list of what was not read."""
    if isinstance(value, Unknown):
        return value.source
    if isinstance(value, Call):
        return value.written or f"{value.name}(...)"
    if isinstance(value, Instance):
        return f"a {value.kind} object"
    if isinstance(value, (Imported, ClassValue)):
        return value.name
    if isinstance(value, FunctionValue):
        return getattr(value.node, "name", "a lambda")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {describe(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    return repr(value)


def attribute(value: Value, name: str, written: str) -> Value:
    """`value.name` where the value is known, else Unknown(written)."""
    if isinstance(value, Imported):
        if value.name.split(".")[0] == "torch" and name in _DTYPES:
            return _DTYPES[name]
        if value.name.rsplit(".", 1)[-1] in _ENUMS:
            return name
        return Imported(f"{value.name}.{name}")
    if isinstance(value, (Instance, ClassValue)):
        if name in value.fields:
            return value.fields[name]
        source = f"{written} (given on the command line)" if getattr(value, "open_fields", False) else written
        return Unknown(source)
    if isinstance(value, Call) and value.short.endswith(("Config", "Arguments")) and name in value.kwargs:
        return value.kwargs[name]  # a configuration object keeps its arguments as attributes
    return Unknown(written)


def instance_of(cls: ClassValue, args: list[Value], kwargs: dict[str, Value]) -> Instance:
    """An object of a class of the file: its field defaults, with the given arguments over them."""
    fields = dict(cls.fields)
    for name, value in zip(list(fields), args):
        fields[name] = value
    fields.update({k: v for k, v in kwargs.items() if k in fields or not cls.is_dataclass})
    return Instance(cls.name, fields)


def trace(value: Value, accept: Callable[[Call], bool], depth: int = 0) -> Call | None:
    """The call a value comes from that `accept`s, followed through methods, items and wrappers.

    `dataset["train"].map(f)` leads back to `load_dataset(...)`, `get_peft_model(model, config)`
    to the `from_pretrained(...)` that loaded `model`.
    """
    if not isinstance(value, Call) or depth > 16:
        return None
    if accept(value):
        return value
    for inner in (value.receiver, value.args[0] if value.args else None, value.kwargs.get("model")):
        found = trace(inner, accept, depth + 1)
        if found is not None:
            return found
    return None
