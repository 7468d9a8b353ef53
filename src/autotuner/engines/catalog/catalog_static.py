"""Read Python source without running it: modules, name resolution, constant values and type hints.

The flag catalogs are generated from the engines' published wheels. Importing SGLang or vLLM needs
CUDA libraries, so their argument definitions are read with ``ast`` instead; this module is the
small static interpreter that follows imports, module constants, ``Literal`` aliases and class
attributes far enough to recover flag types, choices and defaults.
"""

from __future__ import annotations

import ast
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


class Unresolved(Exception):
    """A value that cannot be known without running the code."""


@dataclass(frozen=True)
class EnumMember:
    """One member of an ``Enum`` class read from source (``list(SomeEnum)`` yields these)."""

    name: str
    value: Any


class SourceTree:
    """The ``.py`` files of one distribution, by path inside it (``pkg/mod.py``)."""

    def __init__(self, files: dict[str, str] | None = None, wheel: Path | None = None):
        self._files = dict(files or {})
        self._zip = zipfile.ZipFile(wheel) if wheel else None
        self._names = set(self._files) | (set(self._zip.namelist()) if self._zip else set())
        self._modules: dict[str, Module | None] = {}

    @classmethod
    def from_wheel(cls, path: Path) -> SourceTree:
        return cls(wheel=Path(path))

    def has(self, path: str) -> bool:
        return path in self._names

    def text(self, path: str) -> str:
        if path in self._files:
            return self._files[path]
        if self._zip is None:
            raise KeyError(path)
        return self._zip.read(path).decode("utf-8")

    def module(self, dotted: str) -> Module | None:
        """The module ``a.b.c`` (``a/b/c.py`` or ``a/b/c/__init__.py``), or None if not in the tree."""
        if dotted not in self._modules:
            base = dotted.replace(".", "/")
            for path, package in ((f"{base}.py", False), (f"{base}/__init__.py", True)):
                if self.has(path):
                    self._modules[dotted] = Module(self, dotted, ast.parse(self.text(path)), package)
                    break
            else:
                self._modules[dotted] = None
        return self._modules[dotted]


@dataclass
class Module:
    tree_: SourceTree
    name: str
    tree: ast.Module
    is_package: bool
    defs: dict[str, ast.AST] = field(default_factory=dict)  # name -> ClassDef/FunctionDef/value expr
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # name -> (module, attr)
    star_imports: list[str] = field(default_factory=list)  # modules of `from m import *`

    def __post_init__(self) -> None:
        for stmt in self.tree.body:
            self._index(stmt)

    def _index(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.ClassDef | ast.FunctionDef):
            self.defs[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                # `X = make_struct(X)` rebinding a class keeps the class: it is what the source declares
                if isinstance(target, ast.Name) and not isinstance(self.defs.get(target.id), ast.ClassDef):
                    self.defs[target.id] = stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            self.defs[stmt.target.id] = stmt.value
        elif isinstance(stmt, ast.ImportFrom):
            source = self.absolute(stmt.module, stmt.level)
            for alias in stmt.names:
                if alias.name == "*":
                    self.star_imports.append(source)
                else:
                    self.imports[alias.asname or alias.name] = (source, alias.name)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    self.imports[alias.asname] = (alias.name, None)
                else:
                    top = alias.name.split(".")[0]
                    self.imports[top] = (top, None)
        elif isinstance(stmt, ast.If | ast.Try):  # `if TYPE_CHECKING:` / `try: import` blocks
            for inner in stmt.body:
                self._index(inner)

    def local_copy(self) -> Module:
        """A copy for interpreting a function body, so that its local imports stay local."""
        copy = Module(self.tree_, self.name, ast.Module(body=[], type_ignores=[]), self.is_package)
        copy.defs, copy.imports, copy.star_imports = dict(self.defs), dict(self.imports), list(self.star_imports)
        return copy

    def absolute(self, module: str | None, level: int) -> str:
        if not level:
            return module or ""
        parts = self.name.split(".")
        base = parts if self.is_package else parts[:-1]
        base = base[: len(base) - (level - 1)] if level > 1 else base
        return ".".join(base + ([module] if module else []))


@dataclass(frozen=True)
class Binding:
    """What a name refers to: a module, a class or function definition, or a value expression."""

    module: Module
    node: ast.AST | None  # None when the binding is the module itself
    name: str


def resolve(module: Module, name: str, depth: int = 0) -> Binding | None:
    """Follow ``name`` in ``module`` through imports to its definition inside the tree."""
    if depth > 20:
        return None
    if name in module.defs:
        return Binding(module, module.defs[name], name)
    if name in module.imports:
        source, attr = module.imports[name]
        if attr is None:
            target = module.tree_.module(source)
            return Binding(target, None, source) if target else None
        sub = module.tree_.module(f"{source}.{attr}")
        if sub is not None:
            return Binding(sub, None, sub.name)
        target = module.tree_.module(source)
        return resolve(target, attr, depth + 1) if target else None
    for source in module.star_imports:
        target = module.tree_.module(source)
        found = resolve(target, name, depth + 1) if target else None
        if found is not None:
            return found
    return None


def class_def(module: Module, name: str) -> tuple[Module, ast.ClassDef] | None:
    binding = resolve(module, name)
    if binding and isinstance(binding.node, ast.ClassDef):
        return binding.module, binding.node
    return None


def method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | None:
    return next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def base_classes(module: Module, cls: ast.ClassDef) -> list[tuple[Module, ast.ClassDef]]:
    """The class and its resolvable bases, nearest first (single-inheritance walk, depth-first)."""
    out = [(module, cls)]
    for base in cls.bases:
        if isinstance(base, ast.Name):
            found = class_def(module, base.id)
            if found:
                out += base_classes(*found)
    return out


@dataclass
class Scope:
    """Where names are looked up: local variables, then a class body, then the module."""

    module: Module
    local: dict[str, Any] = field(default_factory=dict)
    cls: ast.ClassDef | None = None
    owner: tuple[Module, ast.ClassDef] | None = None  # class defining the method being interpreted


_BUILTINS: dict[str, Any] = {"True": True, "False": False, "None": None, "list": list, "dict": dict,
                             "set": set, "tuple": tuple}
_CONVERTERS = {"list": list, "tuple": tuple, "set": set, "sorted": sorted, "frozenset": set,
               "int": int, "float": float, "str": str}
# Calls read from type hints (``get_args(SomeLiteral)``): installed by the type reader (catalog_types),
# which builds on this module. name -> reader(argument, module) -> value, or None when unreadable.
CALL_READERS: dict[str, Callable[[ast.AST, "Module"], Any]] = {}


def evaluate(node: ast.AST, scope: Scope, depth: int = 0) -> Any:
    """The value of a constant expression, or :class:`Unresolved`."""
    if depth > 30:
        raise Unresolved("too deep")
    ev = lambda n: evaluate(n, scope, depth + 1)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        items = []
        for elt in node.elts:
            if isinstance(elt, ast.Starred):
                items.extend(ev(elt.value))
            else:
                items.append(ev(elt))
        return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
    if isinstance(node, ast.Dict):
        out: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                out.update(ev(value))
            else:
                out[ev(key)] = ev(value)
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd | ast.Not):
        value = ev(node.operand)
        return -value if isinstance(node.op, ast.USub) else (not value if isinstance(node.op, ast.Not) else value)
    if isinstance(node, ast.BinOp):
        left, right = ev(node.left), ev(node.right)
        ops = {ast.Add: lambda a, b: a + b, ast.Mult: lambda a, b: a * b, ast.Sub: lambda a, b: a - b,
               ast.Pow: lambda a, b: a ** b, ast.Div: lambda a, b: a / b, ast.LShift: lambda a, b: a << b,
               ast.FloorDiv: lambda a, b: a // b}
        op = ops.get(type(node.op))
        if op is None:
            raise Unresolved(ast.unparse(node))
        if isinstance(left, set | tuple) and isinstance(right, list):
            left = list(left)
        try:
            return op(left, right)
        except Exception as exc:
            raise Unresolved(ast.unparse(node)) from exc
    if isinstance(node, ast.JoinedStr):
        return "".join(str(ev(v.value)) if isinstance(v, ast.FormattedValue) else str(v.value) for v in node.values)
    if isinstance(node, ast.Name):
        return _lookup(node.id, scope, depth)
    if isinstance(node, ast.Attribute):
        return _attribute(node, scope, depth)
    if isinstance(node, ast.Call):
        return _call(node, scope, depth)
    if isinstance(node, ast.Lambda) and not node.args.args:
        return ev(node.body)
    if isinstance(node, ast.Subscript):
        container, key = ev(node.value), ev(node.slice)
        try:
            return container[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise Unresolved(ast.unparse(node)) from exc
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In | ast.NotIn):
        inside = ev(node.left) in ev(node.comparators[0])
        return inside if isinstance(node.ops[0], ast.In) else not inside
    if isinstance(node, ast.ListComp | ast.SetComp) and len(node.generators) == 1:
        return _comprehension(node, scope, depth)
    if isinstance(node, ast.BoolOp):
        values = [ev(v) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    raise Unresolved(ast.unparse(node))


def evaluate_text(node: ast.AST, scope: Scope) -> str:
    """A string expression with the parts that cannot be known shown as ``...``."""
    try:
        value = evaluate(node, scope)
        return value if isinstance(value, str) else str(value)
    except Unresolved:
        pass
    if isinstance(node, ast.JoinedStr):
        return "".join(evaluate_text(v.value, scope) if isinstance(v, ast.FormattedValue) else str(v.value)
                       for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return evaluate_text(node.left, scope) + evaluate_text(node.right, scope)
    return "..."


def _comprehension(node: ast.ListComp | ast.SetComp, scope: Scope, depth: int) -> Any:
    gen = node.generators[0]
    if not isinstance(gen.target, ast.Name):
        raise Unresolved(ast.unparse(node))
    out = []
    for item in evaluate(gen.iter, scope, depth + 1):
        inner = Scope(scope.module, {**scope.local, gen.target.id: item}, scope.cls, scope.owner)
        if all(evaluate(test, inner, depth + 1) for test in gen.ifs):
            out.append(evaluate(node.elt, inner, depth + 1))
    return out if isinstance(node, ast.ListComp) else set(out)


def enum_members(module: Module, cls: ast.ClassDef) -> list[EnumMember]:
    """``NAME = value`` members of an enum class body (``auto()`` values left unresolved as None)."""
    members = []
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
                and not stmt.targets[0].id.startswith("_"):
            value = try_evaluate(stmt.value, Scope(module, cls=cls))
            members.append(EnumMember(stmt.targets[0].id, None if isinstance(value, Unresolved) else value))
    return members


def _lookup(name: str, scope: Scope, depth: int) -> Any:
    if name in scope.local:
        value = scope.local[name]
        if isinstance(value, Unresolved):
            raise value
        return value
    if scope.cls is not None:
        for stmt in scope.cls.body:
            value = _class_assignment(stmt, name)
            if value is not None:
                return evaluate(value, scope, depth + 1)
    if name in _BUILTINS:
        return _BUILTINS[name]
    binding = resolve(scope.module, name)
    if binding is None:
        raise Unresolved(name)
    if binding.node is None or isinstance(binding.node, ast.ClassDef | ast.FunctionDef):
        return binding  # a module, class or function: only useful as an attribute base or callee
    return evaluate(binding.node, Scope(binding.module), depth + 1)


def _class_assignment(stmt: ast.stmt, name: str) -> ast.expr | None:
    if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
        return stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == name:
        return stmt.value
    return None


def _attribute(node: ast.Attribute, scope: Scope, depth: int) -> Any:
    base = evaluate(node.value, scope, depth + 1)
    if isinstance(base, EnumMember) and node.attr in ("name", "value"):
        return getattr(base, node.attr)
    if isinstance(base, Binding):
        if base.node is None:  # module.attr
            inner = resolve(base.module, node.attr)
            if inner is None:
                raise Unresolved(ast.unparse(node))
            if inner.node is None or isinstance(inner.node, ast.ClassDef | ast.FunctionDef):
                return inner
            return evaluate(inner.node, Scope(inner.module), depth + 1)
        if isinstance(base.node, ast.ClassDef):  # Class.ATTR
            for stmt in base.node.body:
                value = _class_assignment(stmt, node.attr)
                if value is not None:
                    return evaluate(value, Scope(base.module, cls=base.node), depth + 1)
    raise Unresolved(ast.unparse(node))


# Methods that only read (or mutate the interpreter's own copies of) plain values.
_PURE_METHODS = {"replace", "lower", "upper", "strip", "lstrip", "rstrip", "split", "join", "startswith",
                 "endswith", "items", "keys", "values", "get", "pop", "copy", "remove", "append", "extend",
                 "add", "discard", "update", "setdefault", "format"}


def _call(node: ast.Call, scope: Scope, depth: int) -> Any:
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    if isinstance(func, ast.Name) and callable(scope.local.get(func.id)):
        return scope.local[func.id](node, scope)  # an intrinsic supplied by the caller
    if name in ("field", "Field") and not node.args:  # dataclasses.field / pydantic.Field / msgspec.field
        keywords = {k.arg: k.value for k in node.keywords}
        if "default" in keywords:
            return evaluate(keywords["default"], scope, depth + 1)
        if "default_factory" in keywords:
            factory = evaluate(keywords["default_factory"], scope, depth + 1)
            if isinstance(factory, type) and factory in (list, dict, set, tuple):
                return factory()
            if isinstance(factory, Binding) and isinstance(factory.node, ast.ClassDef) and any(
                    head_name(b.value if isinstance(b, ast.Subscript) else b) in ("dict", "Dict")
                    for _, c in base_classes(factory.module, factory.node) for b in c.bases):
                return {}  # an empty dict subclass
            if isinstance(factory, Binding):
                raise Unresolved(f"{factory.name}()")
            return factory
        raise Unresolved(ast.unparse(node))
    if isinstance(func, ast.Attribute) and func.attr in _PURE_METHODS:
        target = evaluate(func.value, scope, depth + 1)
        if not isinstance(target, Binding):
            args = [evaluate(a, scope, depth + 1) for a in node.args]
            kwargs = {k.arg: evaluate(k.value, scope, depth + 1) for k in node.keywords if k.arg}
            try:
                result = getattr(target, func.attr)(*args, **kwargs)
            except Exception as exc:
                raise Unresolved(ast.unparse(node)) from exc
            return list(result) if func.attr in ("items", "keys", "values") else result
    if name in _CONVERTERS and len(node.args) == 1 and not node.keywords:
        arg = evaluate(node.args[0], scope, depth + 1)
        if isinstance(arg, Binding) and isinstance(arg.node, ast.ClassDef):
            arg = enum_members(arg.module, arg.node)  # iterating an Enum class
        try:
            return _CONVERTERS[name](arg)
        except (TypeError, ValueError) as exc:
            raise Unresolved(ast.unparse(node)) from exc
    if name in CALL_READERS and len(node.args) == 1:
        found = CALL_READERS[name](node.args[0], scope.module)
        if found is not None:
            return found
    if isinstance(func, ast.Name) and not node.args and not node.keywords:
        binding = resolve(scope.module, func.id)
        if binding and isinstance(binding.node, ast.FunctionDef):
            return _run_function(binding.module, binding.node, depth)
    raise Unresolved(ast.unparse(node))


def _run_function(module: Module, fn: ast.FunctionDef, depth: int) -> Any:
    """A no-argument helper's final ``return``: local imports and assignments, early returns skipped."""
    local: dict[str, Any] = {}
    shadow = module.local_copy()
    for stmt in fn.body:
        if isinstance(stmt, ast.ImportFrom | ast.Import):
            shadow._index(stmt)
            for alias in stmt.names:
                local.pop(alias.asname or alias.name.split(".")[0], None)
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            try:
                local[stmt.targets[0].id] = evaluate(stmt.value, Scope(shadow, local), depth + 1)
            except Unresolved as exc:
                local[stmt.targets[0].id] = exc
        elif isinstance(stmt, ast.Return) and stmt.value is not None:
            return evaluate(stmt.value, Scope(shadow, local), depth + 1)
    raise Unresolved(f"{fn.name}()")


def try_evaluate(node: ast.AST, scope: Scope) -> Any:
    """:func:`evaluate`, with the :class:`Unresolved` returned instead of raised."""
    try:
        return evaluate(node, scope)
    except Unresolved as exc:
        return exc


def callee(node: ast.Call) -> str:
    """The called name: ``f`` for ``f(...)`` and ``a.b.f(...)``."""
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def head_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""
