"""Walking tutorial code statement by statement, as Python would run it, without running anything.

Each name holds the value in force at that point of the code, so a call sees what the code gives
it there: a later re-binding (an inference cell loading "lora_model") does not change what an
earlier trainer was built with. Branches run when their condition is known; otherwise both run
and a name they set differently becomes Unknown.
"""

from __future__ import annotations

import ast
from dataclasses import replace

from engine.importing.tutorial.evaluator import Evaluator
from engine.importing.tutorial.values import (
    Call,
    ClassValue,
    FunctionValue,
    Imported,
    Instance,
    Scope,
    Unknown,
    Value,
    is_plain,
    trace,
)

TRAINERS = ("SFTTrainer", "Trainer", "UnslothTrainer")
# Library classes a tutorial subclasses (a trainer with its own compute_loss, SFTConfig with new defaults).
_LIBRARY_BASES = ("Trainer", "Config", "Arguments")
_MAX_DEPTH = 24
# Statements run in all, past which calls of the file's functions give Unknown (code that loops on itself).
_MAX_STATEMENTS = 200_000


class _Returned:
    def __init__(self, value: Value) -> None:
        self.value = value


class Interpreter(Evaluator):
    """Runs a module's statements over known values and notes the trainers it builds and trains."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.trainers: list[Call] = []
        self.trained: Call | None = None
        self._running: list[ast.AST] = []
        self._called: set[int] = set()
        self._uncertain_return: list[bool] = []
        self._statements = 0

    def run(self, module: ast.Module) -> Scope:
        """Run the module, then each of its functions no code called (notebooks often define `main` only)."""
        scope = Scope(names={"__name__": "__main__"})
        self.block(module.body, scope)
        for value in list(scope.names.values()):
            if isinstance(value, FunctionValue) and id(value.node) not in self._called:
                self.call_function(value, [], {}, getattr(value.node, "name", "lambda"))
        return scope

    # Calls -------------------------------------------------------------------------------------------
    def called(self, call: Call) -> Call:
        """Note each call: a trainer built, a trainer's `.train()` run."""
        self.calls.append(call)
        if call.short in TRAINERS and call.receiver is None:
            self.trainers.append(call)
        if call.short == "train" and call.receiver is not None:
            trainer = trace(call.receiver, lambda c: c.short in TRAINERS and c.receiver is None)
            if trainer is not None:
                self.trained = trainer
        return call

    def call_function(self, function: FunctionValue, args: list[Value], kwargs: dict[str, Value],
                      written: str) -> Value:
        """Run a function of the file with the arguments given and return what it returns."""
        node = function.node
        self._called.add(id(node))
        if node in self._running or len(self._running) >= _MAX_DEPTH or self._statements > _MAX_STATEMENTS:
            return Unknown(written)
        scope = Scope(function.scope)
        self._bind_parameters(node.args, args, kwargs, scope)
        if isinstance(node, ast.Lambda):
            return self.evaluate(node.body, scope)
        self._running.append(node)
        self._uncertain_return.append(False)
        try:
            returned = self.block(node.body, scope)
        finally:
            self._running.pop()
            uncertain = self._uncertain_return.pop()
        if uncertain:
            return Unknown(written)
        return returned.value if returned else None

    def _bind_parameters(self, spec: ast.arguments, args: list[Value], kwargs: dict[str, Value], scope: Scope) -> None:
        positional = spec.posonlyargs + spec.args
        defaults = [None] * (len(positional) - len(spec.defaults)) + list(spec.defaults)
        for index, (param, default) in enumerate(zip(positional, defaults)):
            if index < len(args):
                value = args[index]
            elif param.arg in kwargs:
                value = kwargs[param.arg]
            else:
                value = self.evaluate(default, scope) if default is not None else Unknown(param.arg)
            scope.names[param.arg] = value
        for param, default in zip(spec.kwonlyargs, spec.kw_defaults):
            value = kwargs.get(param.arg, Unknown(param.arg))
            if param.arg not in kwargs and default is not None:
                value = self.evaluate(default, scope)
            scope.names[param.arg] = value
        if spec.vararg:
            scope.names[spec.vararg.arg] = Unknown(spec.vararg.arg)
        if spec.kwarg:
            scope.names[spec.kwarg.arg] = {k: v for k, v in kwargs.items() if k not in scope.names}

    # Statements --------------------------------------------------------------------------------------
    def block(self, statements: list[ast.stmt], scope: Scope) -> _Returned | None:
        """Run statements in order; a `return` ends the block with its value."""
        for statement in statements:
            self._statements += 1
            returned = self.statement(statement, scope)
            if returned is not None:
                return returned
        return None

    def statement(self, node: ast.stmt, scope: Scope) -> _Returned | None:
        """Run one statement."""
        if isinstance(node, ast.Assign):
            value = self.evaluate(node.value, scope)
            for target in node.targets:
                self.bind(target, value, scope)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self.bind(node.target, self.evaluate(node.value, scope), scope)
        elif isinstance(node, ast.AugAssign):
            combined = ast.BinOp(left=_as_load(node.target), op=node.op, right=node.value)
            self.bind(node.target, self.evaluate(ast.copy_location(combined, node), scope), scope)
        elif isinstance(node, ast.Expr):
            self.evaluate(node.value, scope)
        elif isinstance(node, ast.Return):
            return _Returned(self.evaluate(node.value, scope) if node.value else None)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope.names[node.name] = FunctionValue(node, scope)
        elif isinstance(node, ast.ClassDef):
            scope.names[node.name] = self._class(node, scope)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                scope.names[alias.asname or alias.name.split(".")[0]] = Imported(alias.name if alias.asname else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                scope.names[alias.asname or alias.name] = Imported(f"{node.module or ''}.{alias.name}".lstrip("."))
        elif isinstance(node, ast.If):
            return self._if(node, scope)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            return self._loop(node, scope)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                value = self.evaluate(item.context_expr, scope)
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, Unknown(ast.unparse(item.optional_vars)) if is_plain(value) else value, scope)
            return self.block(node.body, scope)
        elif isinstance(node, ast.Try):
            return self._try(node, scope)
        elif isinstance(node, ast.Match):
            return self._either([case.body for case in node.cases] + [[]], scope, f"in `match {ast.unparse(node.subject)}`")
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    scope.names[target.id] = Unknown(f"{target.id} (deleted)")
        return None

    def _if(self, node: ast.If, scope: Scope) -> _Returned | None:
        test = self.evaluate(node.test, scope)
        if is_plain(test):
            return self.block(node.body if test else node.orelse, scope)
        condition = ast.unparse(node.test)
        condition = condition if len(condition) <= 50 else condition[:47] + "..."
        return self._either([node.body, node.orelse], scope, f"under `if {condition}`")

    def _loop(self, node: ast.For | ast.AsyncFor | ast.While, scope: Scope) -> _Returned | None:
        if isinstance(node, ast.While):
            test = self.evaluate(node.test, scope)
            if is_plain(test) and not test:
                return self.block(node.orelse, scope)
        else:
            self.evaluate(node.iter, scope)
            self.bind(node.target, Unknown(ast.unparse(node.target)), scope)
        return self._either([node.body + node.orelse, []], scope, "in a loop")

    def _try(self, node: ast.Try, scope: Scope) -> _Returned | None:
        returned = self._either([node.body + node.orelse] + [h.body for h in node.handlers], scope,
                                "in a try/except") if node.handlers else self.block(node.body + node.orelse, scope)
        final = self.block(node.finalbody, scope)
        return final or returned

    def _either(self, branches: list[list[ast.stmt]], scope: Scope, why: str) -> _Returned | None:
        """Run each branch from the same start; names they leave different become Unknown."""
        results = []
        for statements in branches:
            branch = scope.branch()
            results.append((branch, self.block(statements, branch)))
        going_on = [branch for branch, returned in results if returned is None]
        if len(going_on) < len(results) and self._uncertain_return:
            if not going_on:
                values = [returned.value for _, returned in results]
                return _Returned(values[0] if all(v == values[0] for v in values) else Unknown(why))
            self._uncertain_return[-1] = True
        names = set().union(*(branch.names for branch in going_on))
        for name in names:
            values = [branch.names.get(name, scope.lookup(name)) for branch in going_on]
            scope.names[name] = values[0] if all(v == values[0] for v in values) else Unknown(f"{name} (set {why})")
        return None

    # Names -------------------------------------------------------------------------------------------
    def bind(self, target: ast.expr, value: Value, scope: Scope) -> None:
        """Give a target (a name, a tuple of them, an attribute, an item) its new value."""
        if isinstance(target, ast.Name):
            scope.names[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            self._unpack(target.elts, value, scope)
        elif isinstance(target, ast.Attribute):
            path: list[str] = []
            root: ast.expr = target
            while isinstance(root, ast.Attribute):
                path.insert(0, root.attr)
                root = root.value
            if isinstance(root, ast.Name):
                changed = _with_attribute(scope.lookup(root.id), path, value)
                if changed is not None:
                    scope.names[root.id] = changed
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            owner, key = scope.lookup(target.value.id), self.evaluate(target.slice, scope)
            if isinstance(owner, dict) and isinstance(key, str):
                scope.names[target.value.id] = {**owner, key: value}

    def _unpack(self, targets: list[ast.expr], value: Value, scope: Scope) -> None:
        starred = any(isinstance(t, ast.Starred) for t in targets)
        for index, target in enumerate(targets):
            if isinstance(target, ast.Starred):
                self.bind(target.value, Unknown(ast.unparse(target)), scope)
            elif isinstance(value, (list, tuple)) and not starred and len(value) == len(targets):
                self.bind(target, value[index], scope)
            elif isinstance(value, Call):
                self.bind(target, Call("__item__", (index,), receiver=value), scope)
            else:
                self.bind(target, Unknown(ast.unparse(target)), scope)

    def _class(self, node: ast.ClassDef, scope: Scope) -> ClassValue:
        """A class of the file with its fields' defaults; a field without one is given on the command line."""
        is_dataclass = any("dataclass" in ast.unparse(d) for d in node.decorator_list)
        body_scope = Scope(scope)
        fields: dict[str, Value] = {}
        library_base = ""
        for base in node.bases:
            value = self.evaluate(base, scope)
            if isinstance(value, ClassValue):
                fields.update(value.fields)
                library_base = library_base or value.library_base
            elif ast.unparse(base).endswith(_LIBRARY_BASES):
                library_base = library_base or (value.name if isinstance(value, Imported) else ast.unparse(base))
        for statement in node.body:
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                name = statement.target.id
                fields[name] = self._field_default(statement.value, body_scope, f"{node.name}.{name}")
            elif isinstance(statement, ast.Assign):
                value = self.evaluate(statement.value, body_scope)
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        fields[target.id] = value
            else:
                continue
            body_scope.names.update(fields)
        return ClassValue(node.name, fields, is_dataclass, library_base)

    def _field_default(self, node: ast.expr | None, scope: Scope, written: str) -> Value:
        if node is None:
            return Unknown(f"{written} (given on the command line)")
        value = self.evaluate(node, scope)
        if not (isinstance(value, Call) and value.short == "field"):
            return value
        if "default" in value.kwargs:
            return value.kwargs["default"]
        factory = value.kwargs.get("default_factory")
        if isinstance(factory, FunctionValue):
            return self.call_function(factory, [], {}, written)
        if isinstance(factory, Unknown) and factory.source in ("list", "dict"):
            return [] if factory.source == "list" else {}
        return Unknown(f"{written} (given on the command line)")


def _with_attribute(owner: Value, path: list[str], value: Value) -> Call | Instance | ClassValue | None:
    """The owner with `owner.a.b = value` done (`training_args.x = 1`, `trainer.args.x = 1`), or None.

    Only objects whose attributes are their arguments change: configuration objects, trainers,
    dataclass instances; `model.config.use_cache = False` changes nothing read here.
    """
    head, rest = path[0], path[1:]
    if isinstance(owner, Call) and owner.short.endswith(("Config", "Arguments", "Trainer")):
        new = _with_attribute(owner.kwargs.get(head), rest, value) if rest else value
        return None if new is None else replace(owner, kwargs={**owner.kwargs, head: new})
    if isinstance(owner, (Instance, ClassValue)):
        new = _with_attribute(owner.fields.get(head), rest, value) if rest else value
        return None if new is None else replace(owner, fields={**owner.fields, head: new})
    return None


def _as_load(target: ast.expr) -> ast.expr:
    copy = ast.parse(ast.unparse(target), mode="eval").body
    return ast.copy_location(copy, target)
