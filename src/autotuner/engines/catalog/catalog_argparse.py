"""The argparse side of flag recovery: ``add_argument`` keywords, and an interpreter for the functions
that build an engine's parser (assignments, ``if``/``for``, method calls, ``**kwargs`` spreads)."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .catalog_static import (
    Binding,
    Module,
    Scope,
    SourceTree,
    Unresolved,
    base_classes,
    callee,
    evaluate,
    evaluate_text,
    method,
    try_evaluate,
)

_HUMAN_INT = {"human_readable_int": "human_readable_int", "human_readable_int_or_auto": "human_readable_int_or_auto"}
_JSON_PARSERS = {"loads", "json_list_type", "parse_dataclass", "union_dict_and_str"}
_PLAIN_TEXT = {"nullable_str", "parse_reasoning_parser"}  # parsers that take any text
_BOOL_ACTIONS = {"store_true", "store_false", "store_const", "BooleanOptionalAction"}
HELP_LIMIT = 200


@dataclass
class FlagSource:
    """Everything recovered about one flag; turned into a catalog entry by :meth:`entry`."""

    names: list[str]
    kwargs: dict[str, Any]

    @property
    def name(self) -> str:
        return next((n for n in self.names if n.startswith("--")), self.names[0]).lstrip("-")

    def entry(self, gaps: list[str]) -> dict[str, Any]:
        kw = self.kwargs
        action = str(kw.get("action") or "")
        boolean = action in _BOOL_ACTIONS or "StoreTrue" in action or "BooleanOptional" in action
        nargs = kw.get("nargs")
        if isinstance(nargs, Unresolved):
            gaps.append(f"{self.name}: nargs")
            nargs = None
        base_type = "bool" if boolean else kw.get("type", "str")
        if isinstance(base_type, Unresolved):
            base_type = "str"
        is_list = not boolean and (nargs in ("+", "*") or (isinstance(nargs, int) and nargs > 1) or action == "append")
        choices = _plain(kw.get("choices"), gaps, self.name, "choices")
        implicit = {"store_true": False, "store_false": True}.get(action, False if "StoreTrue" in action else None)
        default = kw.get("default", implicit)
        if base_type == "json" and isinstance(default, Unresolved):
            default = None  # a config object built at startup: null says "the engine's own"
        default = _plain(default, gaps, self.name, "default")
        entry: dict[str, Any] = {
            "type": "list" if is_list else base_type,
            "choices": [c for c in choices if c is not None] if choices else None,
            "default": default,
            "boolean": boolean,
            "negation": f"no-{self.name}" if "BooleanOptional" in action else None,
            "nargs": nargs if not boolean else None,
            "aliases": [n for n in self.names if n.lstrip("-") != self.name],
            "help": first_sentence(kw.get("help") or ""),
        }
        if is_list:
            entry["item_type"] = base_type
        if action and not boolean and action not in ("append", "store", "count", "extend") \
                and not kw.get("format") and "Deprecated" not in action:
            kw = {**kw, "format": action}  # a custom argparse action reads the text in its own way
        for key in ("format", "bounds"):
            if kw.get(key):
                entry[key] = kw[key]
        known = _plain(kw.get("known_values"), gaps, self.name, "known values")
        if known:
            entry["known_values"] = [v for v in known if v is not None]
        if "Deprecated" in action or re.match(r"\W*deprecated\b", entry["help"], re.IGNORECASE):
            entry["deprecated"] = True
        return entry


def _plain(value: Any, gaps: list[str], flag: str, what: str) -> Any:
    """A JSON-ready copy of ``value``; unknowable values become None and are noted in ``gaps``."""
    if isinstance(value, Unresolved | Binding) or callable(value):
        gaps.append(f"{flag}: {what}")
        return None
    if isinstance(value, set | frozenset):
        return sorted((_plain(v, gaps, flag, what) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [_plain(v, gaps, flag, what) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, gaps, flag, what) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    gaps.append(f"{flag}: {what}")
    return None


def first_sentence(text: str) -> str:
    text = " ".join(text.replace("%%", "%").split())
    match = re.search(r"(?<=[.!?])\s+(?=[A-Z`'\"(*-])", text)
    sentence = text[: match.start()] if match else text
    return sentence if len(sentence) <= HELP_LIMIT else sentence[: HELP_LIMIT - 3].rstrip() + "..."


# ---- argparse keyword arguments ---------------------------------------------------------------------

def type_name(node: ast.AST, scope: Scope) -> tuple[str, str | None]:
    """An argparse ``type=`` callable as (catalog type, format)."""
    if isinstance(node, ast.Call) and node.args and callee(node) in ("optional_type", "parse_type"):
        return type_name(node.args[0], scope)
    name = callee(node) if isinstance(node, ast.Call) else node.attr if isinstance(node, ast.Attribute) else \
        node.id if isinstance(node, ast.Name) else ""
    if name in ("int", "float", "str"):
        return name, None
    if name in _HUMAN_INT:
        return "int", _HUMAN_INT[name]
    if name in _JSON_PARSERS:
        return "json", None
    if name in _PLAIN_TEXT:
        return "str", None
    # a custom parser: the engine checks the text itself; the format names it
    return "str", name if isinstance(node, ast.Name | ast.Attribute) and name else "custom"


def action_name(node: ast.AST, scope: Scope) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        try:
            value = evaluate(node, scope)
            return value if isinstance(value, str) else node.id
        except Unresolved:
            return node.id
    return ast.unparse(node)


def keyword_value(key: str, node: ast.AST, scope: Scope) -> Any:
    """One ``add_argument`` keyword, in the catalog's terms."""
    if key == "type":
        return type_name(node, scope)
    if key == "action":
        return action_name(node, scope)
    if key == "help":
        return evaluate_text(node, scope)
    if key == "default" and isinstance(node, ast.Attribute) and node.attr == "SUPPRESS":
        return None  # argparse.SUPPRESS: the engine fills it in later
    return try_evaluate(node, scope)


def set_kwarg(kwargs: dict[str, Any], key: str, value: Any) -> None:
    if key == "type":
        kwargs["type"], fmt = value
        if fmt:
            kwargs["format"] = fmt
        else:
            kwargs.pop("format", None)
    else:
        kwargs[key] = value


# ---- the interpreter ---------------------------------------------------------------------------------

@dataclass
class Interpreter:
    """Walks parser-building functions, collecting ``add_argument`` calls."""

    tree: SourceTree
    intrinsics: dict[str, Callable[[ast.Call, Scope], Any]] = field(default_factory=dict)
    flags: dict[str, FlagSource] = field(default_factory=dict)
    gaps: list[str] = field(default_factory=list)
    _depth: int = 0

    def add(self, names: list[str], kwargs: dict[str, Any]) -> None:
        if not any(n.startswith("-") for n in names):
            return  # a positional argument (the model path)
        source = FlagSource(names, kwargs)
        self.flags.setdefault(source.name, source)

    def run(self, module: Module, fn: ast.FunctionDef, args: dict[str, Any] | None = None,
            cls: tuple[Module, ast.ClassDef] | None = None) -> Any:
        """Interpret ``fn``'s body with parameters bound from ``args``; returns its top-level ``return``."""
        if self._depth > 12:
            return None
        self._depth += 1
        local: dict[str, Any] = dict(self.intrinsics)
        local.update(args or {})
        scope = Scope(module.local_copy(), local, owner=cls)
        try:
            result = self._block(fn.body, scope, definite=True)
            return result[0] if result else None
        finally:
            self._depth -= 1

    def _block(self, body: list[ast.stmt], scope: Scope, definite: bool) -> tuple[Any] | None:
        """Runs statements; a ``(value,)`` when a ``return`` was reached."""
        for stmt in body:
            result = self._stmt(stmt, scope, definite)
            if result is not None:
                return result
        return None

    def _stmt(self, stmt: ast.stmt, scope: Scope, definite: bool) -> tuple[Any] | None:
        if isinstance(stmt, ast.Return):
            if definite and stmt.value is not None:
                try:
                    return (self._expr(stmt.value, scope),)
                except Unresolved:
                    return (None,)
            return None
        if isinstance(stmt, ast.ImportFrom | ast.Import):
            scope.module._index(stmt)
            for alias in stmt.names:
                if alias.asname or alias.name not in self.intrinsics:
                    scope.local.pop(alias.asname or alias.name, None)
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            self._call_stmt(stmt.value, scope, definite)
        elif isinstance(stmt, ast.Assign):
            self._assign(stmt, scope, definite)
        elif isinstance(stmt, ast.Delete) and definite:
            for target in stmt.targets:
                if isinstance(target, ast.Subscript):
                    try:
                        evaluate(target.value, scope).pop(evaluate(target.slice, scope), None)
                    except (Unresolved, AttributeError, TypeError):
                        pass
        elif isinstance(stmt, ast.If):
            try:
                branch = stmt.body if evaluate(stmt.test, scope) else stmt.orelse
                return self._block(branch, scope, definite)
            except Unresolved:  # unknowable condition: keep the arguments of both branches, no mutations
                self._block(stmt.body, scope, definite=False)
                self._block(stmt.orelse, scope, definite=False)
        elif isinstance(stmt, ast.With | ast.Try):
            self._block(stmt.body, scope, definite)
        elif isinstance(stmt, ast.For) and definite:
            self._for(stmt, scope)
        return None

    def _for(self, stmt: ast.For, scope: Scope) -> None:
        try:
            items = list(evaluate(stmt.iter, scope))
        except (Unresolved, TypeError):
            return
        for item in items:
            if isinstance(stmt.target, ast.Name):
                scope.local[stmt.target.id] = item
            elif isinstance(stmt.target, ast.Tuple) and all(isinstance(t, ast.Name) for t in stmt.target.elts):
                names = [t.id for t in stmt.target.elts if isinstance(t, ast.Name)]  # all of them (checked above)
                for name, value in zip(names, item, strict=False):
                    scope.local[name] = value
            else:
                return
            self._block(stmt.body, scope, definite=True)

    def _assign(self, stmt: ast.Assign, scope: Scope, definite: bool) -> None:
        target = stmt.targets[0]
        if isinstance(target, ast.Name):
            try:
                scope.local[target.id] = self._expr(stmt.value, scope)
            except Unresolved as exc:
                scope.local[target.id] = exc
        elif isinstance(target, ast.Subscript) and definite:  # kwargs["field"]["type"] = ...
            try:
                container, key = evaluate(target.value, scope), evaluate(target.slice, scope)
            except Unresolved:
                return
            if isinstance(container, dict):
                set_kwarg(container, key, keyword_value(key, stmt.value, scope))

    def _expr(self, node: ast.AST, scope: Scope) -> Any:
        if isinstance(node, ast.Call) and self._is_cli_call(node):
            return self._call_stmt(node, scope, True)
        return evaluate(node, scope)

    @staticmethod
    def _is_cli_call(node: ast.Call) -> bool:
        return isinstance(node.func, ast.Attribute) and (
            node.func.attr in ("add_cli_args", "add_argument") or node.func.attr.startswith("_customize"))

    def _call_stmt(self, call: ast.Call, scope: Scope, definite: bool) -> Any:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "add_argument":
            self._add_argument(call, scope)
            return None
        if isinstance(func, ast.Name) and func.id in self.intrinsics:
            return self.intrinsics[func.id](call, scope)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name | ast.Call):
            target = self._class_of(func.value, scope)
            if target is not None:
                return self._call_method(target, func.attr, call, scope)
        if definite:
            try:
                evaluate(call, scope)  # list.remove(...) and other in-place edits of local values
            except Unresolved:
                pass
        return None

    def _class_of(self, node: ast.AST, scope: Scope) -> tuple[Module, ast.ClassDef, tuple | None] | None:
        """The class a method call goes to: ``Name.m()``, ``cls.m()`` or ``super().m()``."""
        if isinstance(node, ast.Call) and callee(node) == "super":
            owner = scope.owner
            bound = scope.local.get("cls")
            if owner is None or not isinstance(bound, Binding):
                return None
            bases = base_classes(*owner)[1:]
            return (bases[0][0], bases[0][1], (bound.module, bound.node)) if bases else None
        try:
            value = evaluate(node, scope)
        except Unresolved:
            return None
        if isinstance(value, Binding) and isinstance(value.node, ast.ClassDef):
            return value.module, value.node, None
        return None

    def _call_method(self, target: tuple, name: str, call: ast.Call, scope: Scope) -> Any:
        module, cls, bound = target
        for owner_module, owner in base_classes(module, cls):
            fn = method(owner, name)
            if fn is None:
                continue
            params = [a.arg for a in fn.args.args]
            decorators = {d.id for d in fn.decorator_list if isinstance(d, ast.Name)}
            defaults = dict(zip(params[len(params) - len(fn.args.defaults):], fn.args.defaults, strict=True))
            if "classmethod" in decorators and params:
                params = params[1:]
            values = []
            for arg in call.args:
                try:
                    values.append(evaluate(arg, scope))
                except Unresolved as exc:
                    values.append(exc)
            args = {name: try_evaluate(node, Scope(owner_module)) for name, node in defaults.items()}
            args.update(zip(params, values, strict=False))
            for kw in call.keywords:
                if kw.arg:
                    args[kw.arg] = try_evaluate(kw.value, scope)
            bound_cls = bound or (module, cls)
            args["cls"] = Binding(bound_cls[0], bound_cls[1], bound_cls[1].name)
            return self.run(owner_module, fn, args, cls=(owner_module, owner))
        return None

    def _add_argument(self, call: ast.Call, scope: Scope) -> None:
        names: list[str] = []
        for arg in call.args:
            try:
                value = evaluate(arg.value if isinstance(arg, ast.Starred) else arg, scope)
            except Unresolved:
                self.gaps.append(f"unreadable flag name: {ast.unparse(arg)[:60]}")
                return
            names += list(value) if isinstance(arg, ast.Starred) else [value]
        kwargs: dict[str, Any] = {}
        for kw in call.keywords:
            if kw.arg is None:  # **field_kwargs
                try:
                    spread = evaluate(kw.value, scope)
                except Unresolved:
                    self.gaps.append(f"{names[0] if names else '?'}: unreadable **{ast.unparse(kw.value)[:50]}")
                    continue
                kwargs.update(spread)
            else:
                set_kwarg(kwargs, kw.arg, keyword_value(kw.arg, kw.value, scope))
        if names:
            self.add([str(n) for n in names], kwargs)




def collect(interp: Interpreter) -> tuple[dict[str, dict[str, Any]], list[str]]:
    gaps = list(interp.gaps)
    entries = {name: src.entry(gaps) for name, src in interp.flags.items()}
    return entries, gaps
