"""Static reading of type annotations and dataclass fields (for flag types, choices and defaults)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from .catalog_static import (CALL_READERS, Module, Scope, Unresolved, base_classes, callee, evaluate, head_name,
                             resolve, try_evaluate)


@dataclass(frozen=True)
class Hint:
    """One member of a (flattened) type annotation.

    kind: ``int``/``float``/``bool``/``str``/``none``/``any``/``dict``/``list``/``tuple``/``set``/
    ``literal`` (values)/``class`` (name, class_kind in dataclass|enum|dict|other)/``callable``.
    """

    kind: str
    values: tuple = ()
    args: tuple[frozenset[Hint], ...] = ()
    name: str = ""
    class_kind: str = ""
    has_ellipsis: bool = False


_SIMPLE = {"int": "int", "float": "float", "bool": "bool", "str": "str", "bytes": "str", "Any": "any",
           "object": "any", "dict": "dict", "Dict": "dict", "Mapping": "dict", "MutableMapping": "dict",
           "list": "list", "List": "list", "Sequence": "list", "Iterable": "list", "tuple": "tuple",
           "Tuple": "tuple", "set": "set", "Set": "set", "frozenset": "set", "FrozenSet": "set",
           "Callable": "callable", "type": "callable", "Type": "callable", "Path": "str"}


def type_hints(node: ast.AST | None, module: Module, depth: int = 0) -> frozenset[Hint]:
    """Flatten an annotation (Optional/Union/Annotated/aliases) into its member hints."""
    if node is None or depth > 20:
        return frozenset({Hint("any")})
    th = lambda n: type_hints(n, module, depth + 1)
    if isinstance(node, ast.Constant):
        if node.value is None:
            return frozenset({Hint("none")})
        if isinstance(node.value, str):  # forward reference
            try:
                return th(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return frozenset({Hint("any")})
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return th(node.left) | th(node.right)
    if isinstance(node, ast.Subscript):
        head = head_name(node.value)
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Optional":
            return th(args[0]) | {Hint("none")}
        if head == "Union":
            return frozenset().union(*(th(a) for a in args))
        if head == "Annotated":
            return th(args[0])
        if head in ("ClassVar", "Final", "InitVar", "Required", "NotRequired"):
            return th(args[0])
        if head == "Literal":
            return frozenset({Hint("literal", values=tuple(literal_values(node, module) or ()))})
        kind = _SIMPLE.get(head, "any")
        if kind in ("list", "tuple", "set", "dict"):
            member = tuple(th(a) for a in args if not (isinstance(a, ast.Constant) and a.value is Ellipsis))
            ellipsis = any(isinstance(a, ast.Constant) and a.value is Ellipsis for a in args)
            return frozenset({Hint(kind, args=member, has_ellipsis=ellipsis)})
        return frozenset({Hint(kind)})
    name = head_name(node)
    if name in _SIMPLE:
        return frozenset({Hint(_SIMPLE[name])})
    if isinstance(node, ast.Name):
        binding = resolve(module, node.id)
        if binding is not None and isinstance(binding.node, ast.ClassDef):
            return frozenset({Hint("class", name=node.id, class_kind=_class_kind(binding.module, binding.node))})
        if binding is not None and binding.node is not None and not isinstance(binding.node, ast.FunctionDef):
            return type_hints(binding.node, binding.module, depth + 1)  # a type alias
        return frozenset({Hint("class", name=node.id, class_kind="other")})
    if isinstance(node, ast.Attribute):
        return frozenset({Hint("class", name=node.attr, class_kind="other")})
    return frozenset({Hint("any")})



def literal_values(node: ast.AST, module: Module, depth: int = 0) -> list | None:
    """Values of ``Literal[...]`` (or of a name aliasing one, or a union of them); None if not a Literal."""
    if depth > 20:
        return None
    if isinstance(node, ast.Subscript) and head_name(node.value) == "Literal":
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        out: list = []
        for arg in args:
            nested = literal_values(arg, module, depth + 1) if isinstance(arg, ast.Subscript | ast.Name) else None
            if nested is not None:
                out += nested
            else:
                try:
                    out.append(evaluate(arg, Scope(module)))
                except Unresolved:
                    pass
        return out
    if isinstance(node, ast.Subscript) and head_name(node.value) in ("Union", "Optional"):
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        parts = [literal_values(a, module, depth + 1) for a in args]
        return [v for p in parts if p for v in p] if any(p is not None for p in parts) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        parts = [literal_values(node.left, module, depth + 1), literal_values(node.right, module, depth + 1)]
        return [v for p in parts if p for v in p] if any(p is not None for p in parts) else None
    if isinstance(node, ast.Name):
        binding = resolve(module, node.id)
        if binding and binding.node is not None and not isinstance(binding.node, ast.ClassDef | ast.FunctionDef):
            return literal_values(binding.node, binding.module, depth + 1)
    return None


def _get_args(node: ast.AST, module: Module) -> tuple | None:
    literal = literal_values(node, module)
    return None if literal is None else tuple(literal)


CALL_READERS["get_args"] = _get_args


def _class_kind(module: Module, cls: ast.ClassDef) -> str:
    for mod, klass in base_classes(module, cls):
        names = {head_name(b.value if isinstance(b, ast.Subscript) else b) for b in klass.bases}
        decorators = {head_name(d.func if isinstance(d, ast.Call) else d) for d in klass.decorator_list}
        if names & {"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag"}:
            return "enum"
        if "TypedDict" in names:
            return "other"
        if names & {"dict", "Dict", "OrderedDict", "defaultdict"}:
            return "dict"
        if decorators & {"dataclass", "config"} or names & {"BaseModel", "Struct"}:
            return "dataclass"
    return "other"


@dataclass
class FieldDecl:
    name: str
    annotation: ast.expr
    value: ast.expr | None
    doc: str
    module: Module
    cls: ast.ClassDef

    def default(self) -> Any:
        if self.value is None:
            return None
        try:
            return evaluate(self.value, Scope(self.module, cls=self.cls))
        except Unresolved as exc:
            return exc

    def bounds(self) -> dict[str, Any] | None:
        if not (isinstance(self.value, ast.Call) and callee(self.value) == "Field"):
            return None
        out = {}
        for kw in self.value.keywords:
            if kw.arg in ("gt", "ge", "lt", "le"):
                value = try_evaluate(kw.value, Scope(self.module))
                if isinstance(value, int | float) and not isinstance(value, bool):
                    out[kw.arg] = value
        return out or None


def class_fields(module: Module, cls: ast.ClassDef) -> list[FieldDecl]:
    """Annotated fields of a dataclass-like class, bases first, with their attribute docstrings."""
    out: dict[str, FieldDecl] = {}
    for mod, klass in reversed(base_classes(module, cls)):
        body = klass.body
        for i, stmt in enumerate(body):
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            if "ClassVar" in ast.unparse(stmt.annotation) or stmt.target.id.startswith("_"):
                continue
            nxt = body[i + 1] if i + 1 < len(body) else None
            doc = nxt.value.value if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) \
                and isinstance(nxt.value.value, str) else ""
            out[stmt.target.id] = FieldDecl(stmt.target.id, stmt.annotation, stmt.value, doc, mod, klass)
    return list(out.values())


def kinds(hints: frozenset[Hint]) -> set[str]:
    return {h.kind for h in hints}


def scalar_type(hints: frozenset[Hint]) -> str:
    present = kinds(hints)
    for kind in ("int", "float", "str"):
        if kind in present:
            return kind
    return "str"


