"""YAML reading and writing with the number rules users expect (`2e-4` is a float).

PyYAML is imported on first use, not with this module: the wizard's first screen needs no YAML.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TypeAlias

YamlValue: TypeAlias = "str | int | float | bool | None | list[YamlValue] | dict[str, YamlValue]"
"""A value as YAML or JSON reading gives it: a scalar, or a list or mapping of values."""

YamlMapping: TypeAlias = "dict[str, YamlValue]"
"""A YAML or JSON mapping as read: a preset, a section of one, another tool's config."""

_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


@cache
def _loader() -> type:
    """SafeLoader with YAML 1.2 scalars: `1e-4` is a float, `no`/`off` stay strings (`eval_strategy: no`).

    On libyaml's parser where PyYAML has it (about 10 times faster: the Start step reads every preset).
    """
    import yaml

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        pass

    Loader.yaml_implicit_resolvers = {
        key: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:float", "tag:yaml.org,2002:bool")]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))
    return Loader


@cache
def _dumper() -> type:
    """SafeDumper that keeps key order and writes multi-line strings as blocks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, represent_str)
    return Dumper


class YamlError(ValueError):
    """Text that is not valid YAML, with where and what (PyYAML's error, without importing PyYAML to catch it)."""

    def __init__(self, problem: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(problem)
        self.problem, self.line, self.column = problem, line, column

    @property
    def where(self) -> str:
        """` at line L, column C` (1-based), or nothing when PyYAML gave no position."""
        return f" at line {self.line}, column {self.column}" if self.line is not None else ""


def load_yaml(text: str) -> YamlValue:
    """Parse YAML text; raises YamlError on broken input."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlError(problem, mark.line + 1 if mark else None, mark.column + 1 if mark else None) from exc


def dump_yaml(data: YamlValue, width: int = 100) -> str:
    """Serialise data as block-style YAML, keys in insertion order, unicode kept, long text folded at width."""
    import yaml

    return yaml.dump(data, Dumper=_dumper(), sort_keys=False, allow_unicode=True, default_flow_style=False, width=width)
