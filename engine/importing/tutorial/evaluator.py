"""Evaluating an expression of tutorial code to a value, from the syntax tree alone (see values)."""

from __future__ import annotations

import ast
import operator

from engine.importing.tutorial.parsers import CONVERSIONS, parser_method
from engine.importing.tutorial.values import (
    Call,
    ClassValue,
    FunctionValue,
    Imported,
    Instance,
    ParserValue,
    Scope,
    Unknown,
    Value,
    attribute,
    instance_of,
    is_plain,
)

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
            ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not}
# Methods of a known string that give a known value (model_id.split("/")[-1], prompt.format(...)).
_STR_METHODS = ("split", "rsplit", "strip", "lstrip", "rstrip", "lower", "upper", "replace", "format", "join",
                "removeprefix", "removesuffix", "startswith", "endswith")


class Evaluator:
    """Evaluates expressions in a scope; calls of functions defined in the file go to `call_function`."""

    def call_function(self, function: FunctionValue, args: list[Value], kwargs: dict[str, Value],
                      written: str) -> Value:
        """The value a function of the file returns (the interpreter runs its body)."""
        return Unknown(written)

    def called(self, call: Call) -> Call:
        """A hook for each call result made (the interpreter notes trainers and `.train()`)."""
        return call

    def evaluate(self, node: ast.expr, scope: Scope) -> Value:
        """The value of an expression, or Unknown with the expression as written."""
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            return Unknown(ast.unparse(node))
        try:
            return method(node, scope)
        except (TypeError, ValueError, ArithmeticError, IndexError, KeyError, AttributeError, OverflowError):
            return Unknown(ast.unparse(node))

    def _Constant(self, node: ast.Constant, scope: Scope) -> Value:
        return node.value

    def _Name(self, node: ast.Name, scope: Scope) -> Value:
        return scope.lookup(node.id)

    def _Attribute(self, node: ast.Attribute, scope: Scope) -> Value:
        base = self.evaluate(node.value, scope)
        if isinstance(base, Unknown) and isinstance(node.value, (ast.Name, ast.Attribute)):
            base = Imported(ast.unparse(node.value)) if _looks_imported(node.value) else base
        return attribute(base, node.attr, ast.unparse(node))

    def _Subscript(self, node: ast.Subscript, scope: Scope) -> Value:
        base = self.evaluate(node.value, scope)
        key = self.evaluate(node.slice, scope)
        if isinstance(base, (dict, list, tuple, str)) and is_plain(key):
            return base[key]
        return self.called(Call("__getitem__", (key,), receiver=base, written=ast.unparse(node)))

    def _List(self, node: ast.List, scope: Scope) -> Value:
        return self._items(node.elts, scope, list)

    def _Tuple(self, node: ast.Tuple, scope: Scope) -> Value:
        return self._items(node.elts, scope, tuple)

    def _Set(self, node: ast.Set, scope: Scope) -> Value:
        items = self._items(node.elts, scope, list)
        return items if isinstance(items, Unknown) else sorted(set(items), key=str)

    def _items(self, elements: list[ast.expr], scope: Scope, kind: type[list] | type[tuple]) -> Value:
        values: list[Value] = []
        for element in elements:
            if isinstance(element, ast.Starred):
                inner = self.evaluate(element.value, scope)
                if not isinstance(inner, (list, tuple)):
                    return Unknown(ast.unparse(element))
                values.extend(inner)
            else:
                values.append(self.evaluate(element, scope))
        return kind(values)

    def _Dict(self, node: ast.Dict, scope: Scope) -> Value:
        out: dict[str | int | float | bool, Value] = {}
        for key, value in zip(node.keys, node.values):
            if key is None:
                inner = self.evaluate(value, scope)
                if not isinstance(inner, dict):
                    return Unknown(ast.unparse(node))
                out.update(inner)
                continue
            key_value = self.evaluate(key, scope)
            if not isinstance(key_value, (str, int, float, bool)):
                return Unknown(ast.unparse(node))
            out[key_value] = self.evaluate(value, scope)
        return out

    def _JoinedStr(self, node: ast.JoinedStr, scope: Scope) -> Value:
        parts = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                parts.append(str(part.value))
                continue
            assert isinstance(part, ast.FormattedValue)
            value = self.evaluate(part.value, scope)
            spec = self.evaluate(part.format_spec, scope) if part.format_spec else ""
            if not is_plain(value) or not isinstance(spec, str):
                return Unknown(ast.unparse(node))
            value = {ord("r"): repr, ord("s"): str, ord("a"): ascii}.get(part.conversion, lambda v: v)(value)
            parts.append(format(value, spec))
        return "".join(parts)

    def _BinOp(self, node: ast.BinOp, scope: Scope) -> Value:
        left, right = self.evaluate(node.left, scope), self.evaluate(node.right, scope)
        operation = _BINARY.get(type(node.op))
        if operation is None or not (is_plain(left) and is_plain(right)):
            return Unknown(ast.unparse(node))
        huge_power = isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > 64
        huge_repeat = isinstance(node.op, ast.Mult) and any(isinstance(v, (str, list, tuple)) for v in (left, right)) \
            and any(isinstance(v, int) and v > 10_000 for v in (left, right))
        if huge_power or huge_repeat:
            return Unknown(ast.unparse(node))  # a huge value is nothing a preset holds
        return operation(left, right)

    def _UnaryOp(self, node: ast.UnaryOp, scope: Scope) -> Value:
        value = self.evaluate(node.operand, scope)
        if not is_plain(value):
            return Unknown(ast.unparse(node))
        return {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
                ast.Invert: operator.invert}[type(node.op)](value)

    def _BoolOp(self, node: ast.BoolOp, scope: Scope) -> Value:
        values = [self.evaluate(v, scope) for v in node.values]
        if not all(is_plain(v) for v in values):
            return Unknown(ast.unparse(node))
        result = values[0]
        for value in values[1:]:
            if isinstance(node.op, ast.And) and not result or isinstance(node.op, ast.Or) and result:
                break
            result = value
        return result

    def _Compare(self, node: ast.Compare, scope: Scope) -> Value:
        left = self.evaluate(node.left, scope)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.evaluate(comparator, scope)
            if not (is_plain(left) and is_plain(right)):
                return Unknown(ast.unparse(node))
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def _IfExp(self, node: ast.IfExp, scope: Scope) -> Value:
        test = self.evaluate(node.test, scope)
        if not is_plain(test):
            return Unknown(ast.unparse(node))
        return self.evaluate(node.body if test else node.orelse, scope)

    def _Lambda(self, node: ast.Lambda, scope: Scope) -> Value:
        return FunctionValue(node, scope)

    def _Call(self, node: ast.Call, scope: Scope) -> Value:
        written = ast.unparse(node)
        args, kwargs, unpacked = self.arguments(node, scope)
        func = self.evaluate(node.func, scope)
        if isinstance(func, FunctionValue):
            return self.call_function(func, args, kwargs, written)
        if isinstance(func, ClassValue) and func.library_base:
            defaults = func.fields if func.is_dataclass else {}
            return self.called(Call(func.library_base, tuple(args), {**defaults, **kwargs}, None, tuple(unpacked), written))
        if isinstance(func, ClassValue):
            return instance_of(func, args, kwargs)
        name = ast.unparse(node.func)
        if isinstance(func, Imported):
            name = func.name
        if name == "getattr" and len(args) in (2, 3) and isinstance(args[1], str):
            found = attribute(args[0], args[1], f"{ast.unparse(node.args[0])}.{args[1]}")
            return args[2] if isinstance(found, Unknown) and len(args) == 3 else found
        if name in CONVERSIONS and len(args) == 1 and not kwargs and is_plain(args[0]):
            return CONVERSIONS[name](args[0])
        if name == "dict" and not args and not unpacked:
            return dict(kwargs)
        if name.rsplit(".", 1)[-1] == "ArgumentParser":
            return ParserValue("argparse")
        if name.rsplit(".", 1)[-1] in ("HfArgumentParser", "TrlParser") and args:
            return ParserValue("hf", classes=tuple(args[0]) if isinstance(args[0], (list, tuple)) else (args[0],))
        receiver = None
        if isinstance(node.func, ast.Attribute) and not isinstance(func, Imported):
            receiver = self.evaluate(node.func.value, scope)
            if isinstance(receiver, str) and node.func.attr in _STR_METHODS and is_plain(args) and is_plain(kwargs):
                return getattr(receiver, node.func.attr)(*args, **kwargs)
            if isinstance(receiver, ParserValue):
                return parser_method(receiver, node.func.attr, args, kwargs)
            if isinstance(receiver, (Call, Instance, dict, list)):
                name = node.func.attr
            else:
                receiver = None
        return self.called(Call(name, tuple(args), kwargs, receiver, tuple(unpacked), written))

    def arguments(self, node: ast.Call, scope: Scope) -> tuple[list[Value], dict[str, Value], list[str]]:
        """A call's positional and keyword argument values, and the unpacked ones that are not known."""
        args: list[Value] = []
        kwargs: dict[str, Value] = {}
        unpacked: list[str] = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                value = self.evaluate(arg.value, scope)
                if isinstance(value, (list, tuple)):
                    args.extend(value)
                else:
                    unpacked.append(ast.unparse(arg))
            else:
                args.append(self.evaluate(arg, scope))
        for keyword in node.keywords:
            value = self.evaluate(keyword.value, scope)
            if keyword.arg is not None:
                kwargs[keyword.arg] = value
            elif isinstance(value, dict) and all(isinstance(k, str) for k in value):
                kwargs.update(value)
            else:
                unpacked.append(f"**{ast.unparse(keyword.value)}")
        return args, kwargs, unpacked


def _looks_imported(node: ast.expr) -> bool:
    """Whether an unbound dotted name is a library's (torch.bfloat16, TaskType.CAUSAL_LM) in code that skipped its import."""
    root = node
    while isinstance(root, ast.Attribute):
        root = root.value
    return isinstance(root, ast.Name) and root.id in ("torch", "peft", "TaskType", "transformers", "trl")

