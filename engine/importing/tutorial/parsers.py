"""Command-line parsers in tutorial code (argparse, HfArgumentParser, TrlParser): the defaults they parse into."""

from __future__ import annotations

from engine.importing.tutorial.values import (
    COMMAND_LINE,
    Call,
    ClassValue,
    Imported,
    Instance,
    ParserValue,
    Unknown,
    Value,
    describe,
)

CONVERSIONS = {"int": int, "float": float, "str": str, "bool": bool}


def parser_method(parser: ParserValue, method: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """What a parser's method gives: arguments it learns, or the objects parsing fills with their defaults."""
    if method == "add_argument":
        _add_argument(parser, args, kwargs)
        return None
    if method in ("add_argument_group", "add_mutually_exclusive_group"):
        return parser
    if method == "set_defaults":
        parser.defaults.update(kwargs)
        return None
    if parser.kind == "argparse":
        namespace = Instance("args", dict(parser.defaults))
        return (namespace, []) if method == "parse_known_args" else namespace
    if method in ("parse_args_into_dataclasses", "parse_args_and_config", "parse_dict", "parse_json_file",
                  "parse_yaml_file"):
        from_file = method in ("parse_json_file", "parse_yaml_file")
        objects: list[Value] = [_parsed_object(cls, from_file) for cls in parser.classes]
        if kwargs.get("return_remaining_strings"):
            objects.append(Unknown("the remaining command-line strings"))
        return tuple(objects)
    return Unknown(f"parser.{method}(...)")


def _parsed_object(cls: Value, from_file: bool) -> Call | Instance:
    if isinstance(cls, ClassValue) and cls.library_base and not from_file:
        # The code's subclass of TrainingArguments: its own defaults over the library's, and the command line.
        return Call(cls.library_base, kwargs=dict(cls.fields), unpacked=(COMMAND_LINE,))
    if isinstance(cls, ClassValue) and not from_file:
        return Instance(cls.name, dict(cls.fields))
    name = cls.name if isinstance(cls, (ClassValue, Imported)) else describe(cls)
    short = name.rsplit(".", 1)[-1]
    if short in ("TrainingArguments", "SFTConfig", "Seq2SeqTrainingArguments") and not from_file:
        # The library class filled from the command line: what it sets there is not known here.
        return Call(name, unpacked=(COMMAND_LINE,))
    return Instance(short, {}, open_fields=True)


def _add_argument(parser: ParserValue, args: list[Value], kwargs: dict[str, Value]) -> None:
    flags = [a for a in args if isinstance(a, str)]
    if not flags:
        return
    long = next((f for f in flags if f.startswith("--")), flags[0])
    dest = kwargs.get("dest") or long.lstrip("-").replace("-", "_")
    if not isinstance(dest, str):
        return
    action = kwargs.get("action")
    if not long.startswith("-") or kwargs.get("required") is True:
        parser.defaults[dest] = Unknown(f"args.{dest} (given on the command line)")
    elif "default" in kwargs:
        default, kind = kwargs["default"], kwargs.get("type")
        if isinstance(default, str) and isinstance(kind, Unknown) and kind.source in ("int", "float"):
            try:
                default = CONVERSIONS[kind.source](default)
            except ValueError:
                default = Unknown(f"args.{dest}")
        parser.defaults[dest] = default
    else:
        parser.defaults[dest] = {"store_true": False, "store_false": True}.get(action) if isinstance(action, str) else None

