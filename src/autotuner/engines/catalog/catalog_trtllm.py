"""TensorRT-LLM's flags, read statically: ``trtllm-serve``'s click options and the LLM-API options.

``trtllm-serve MODEL`` takes click options (``--max_batch_size``, ``--tp_size``...) declared as
decorators of the ``serve`` command in ``tensorrt_llm/commands/serve.py``; everything else goes in the
YAML file named by ``--extra_llm_api_options``, whose keys are the pydantic fields of ``TorchLlmArgs``
(``tensorrt_llm/llmapi/llm_args.py``), nested configs included (``kv_cache_config.dtype``). The
catalog names those ``extra.<field>[.<sub-field>]``, the prefix a task's search space uses too.
"""

from __future__ import annotations

import ast
from typing import Any

from .catalog_static import (Module, Scope, SourceTree, Unresolved, base_classes, callee, class_def,
                             enum_members, head_name, resolve, try_evaluate)
from .catalog_types import FieldDecl, Hint, class_fields, kinds, type_hints

SERVE_MODULE = "tensorrt_llm.commands.serve"
LLM_ARGS_MODULE = "tensorrt_llm.llmapi.llm_args"
LLM_ARGS_CLASS = "TorchLlmArgs"
EXTRA_PREFIX = "extra."
NESTED_DEPTH = 2  # extra.kv_cache_config.dtype; deeper configs are one JSON value
# pydantic's constrained numbers, as bounds
_CONSTRAINED = {"PositiveInt": ("int", {"gt": 0}), "NonNegativeInt": ("int", {"ge": 0}),
                "PositiveFloat": ("float", {"gt": 0}), "NonNegativeFloat": ("float", {"ge": 0}),
                "StrictInt": ("int", None), "StrictBool": ("bool", None)}


def trtllm_flags(tree: SourceTree) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """(catalog entries by name, gaps ``"name: what"``) of the serve command and the LLM-API options."""
    gaps: list[str] = []
    flags = serve_options(tree, gaps)
    flags.update(llm_api_options(tree, gaps))
    return flags, gaps


# ---- trtllm-serve's click options -------------------------------------------------------------------

def serve_options(tree: SourceTree, gaps: list[str]) -> dict[str, dict[str, Any]]:
    module = tree.module(SERVE_MODULE)
    if module is None:
        raise KeyError(f"{SERVE_MODULE} is not in the distribution")
    command = next((d for d in module.tree.body if isinstance(d, ast.FunctionDef) and d.name == "serve"), None)
    if command is None:
        raise KeyError(f"{SERVE_MODULE}: no serve command")
    out: dict[str, dict[str, Any]] = {}
    for decorator in reversed(command.decorator_list):  # click lists options top-down
        if isinstance(decorator, ast.Call) and callee(decorator) == "option":
            name, entry = _click_option(decorator, module, gaps)
            out[name] = entry
    return out


def _click_option(call: ast.Call, module: Module, gaps: list[str]) -> tuple[str, dict[str, Any]]:
    scope = Scope(module)
    spellings = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    dashed = [s for s in spellings if s.startswith("--")]
    name = dashed[0][2:]
    kw = {k.arg: k.value for k in call.keywords if k.arg}
    entry: dict[str, Any] = {"type": "str", "choices": None, "default": None, "boolean": False,
                             "negation": None, "nargs": None, "aliases": dashed[1:], "help": ""}
    if _constant(kw.get("is_flag")) is True:
        entry.update(type="bool", boolean=True, default=False)
    else:
        kind, choices, value_aliases = _click_type(kw.get("type"), scope)
        entry.update(type=kind, choices=choices)
        if value_aliases:
            entry["value_aliases"] = value_aliases
        if choices is Unresolved:
            entry["choices"] = None
            gaps.append(f"{name}: choices")
    if "default" in kw:
        default = _default(kw["default"], module)
        if isinstance(default, Unresolved):
            gaps.append(f"{name}: default")
            default = None
        entry["default"] = default
    if _constant(kw.get("multiple")) is True:
        entry.update(item_type=entry["type"], type="list", nargs="*", default=list(entry["default"] or []))
    entry["help"], status = _help(kw.get("help"), scope)
    if status:
        entry["status"] = status
    return name, entry


def _constant(node: ast.AST | None) -> Any:
    return node.value if isinstance(node, ast.Constant) else None


def _click_type(node: ast.AST | None, scope: Scope) -> tuple[str, Any, dict[str, str] | None]:
    """(type, choices or Unresolved, value aliases) of a click ``type=``."""
    if node is None or head_name(node) in ("str", "Path"):
        return "str", None, None
    if head_name(node) in ("int", "float", "bool"):
        return head_name(node), None, None
    if isinstance(node, ast.Call):
        kind = callee(node)
        if kind in ("Choice", "ChoiceWithAlias") and node.args:
            choices = try_evaluate(node.args[0], scope)
            if isinstance(choices, Unresolved) or not isinstance(choices, list | tuple):
                return "str", Unresolved, None
            aliases = try_evaluate(node.args[1], scope) if len(node.args) > 1 else None
            return "str", [str(c) for c in choices], aliases if isinstance(aliases, dict) else None
        if kind == "IntRange":
            return "int", None, None
        if kind == "FloatRange":
            return "float", None, None
    return "str", None, None


def _default(node: ast.AST, module: Module) -> Any:
    """A default, following ``SomeModel.model_fields["x"].default`` to that pydantic field's default."""
    if isinstance(node, ast.Attribute) and node.attr == "default" and isinstance(node.value, ast.Subscript):
        holder = node.value.value
        key = _constant(node.value.slice)
        if isinstance(holder, ast.Attribute) and holder.attr == "model_fields" and isinstance(key, str):
            found = class_def(module, head_name(holder.value))
            if found is None:
                return Unresolved(ast.unparse(node))
            decl = next((f for f in class_fields(*found) if f.name == key), None)
            return _field_default(decl) if decl else Unresolved(key)
    return try_evaluate(node, Scope(module))


def _help(node: ast.AST | None, scope: Scope) -> tuple[str, str | None]:
    """The help sentence and the stability tag of ``help_info_with_stability_tag(text, tag)``."""
    if node is None:
        return "", None
    status = None
    if isinstance(node, ast.Call) and node.args:
        if len(node.args) > 1:
            status = _constant(node.args[1])
        node = node.args[0]
    text = try_evaluate(node, scope)
    return (_first_sentence(text) if isinstance(text, str) else ""), status


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    cut = text.find(". ")
    return text if cut < 0 else text[:cut + 1]


# ---- the LLM-API options (the extra-options YAML) -------------------------------------------------------

def llm_api_options(tree: SourceTree, gaps: list[str]) -> dict[str, dict[str, Any]]:
    module = tree.module(LLM_ARGS_MODULE)
    found = class_def(module, LLM_ARGS_CLASS) if module else None
    if found is None:
        raise KeyError(f"{LLM_ARGS_MODULE}.{LLM_ARGS_CLASS} is not in the distribution")
    out: dict[str, dict[str, Any]] = {}
    _model_fields(*found, EXTRA_PREFIX, 1, out, gaps)
    return out


def _model_fields(module: Module, cls: ast.ClassDef, prefix: str, depth: int,
                  out: dict[str, dict[str, Any]], gaps: list[str]) -> None:
    for decl in class_fields(module, cls):
        name = prefix + decl.name
        nested = _nested_model(decl)
        entry = _field_entry(decl, nested is not None)
        if isinstance(entry["default"], Unresolved):
            gaps.append(f"{name}: default")
            entry["default"] = None
        out[name] = entry
        if nested is not None and depth < NESTED_DEPTH:
            _model_fields(*nested, name + ".", depth + 1, out, gaps)


def _nested_model(decl: FieldDecl) -> tuple[Module, ast.ClassDef] | None:
    """The config class a field holds (``KvCacheConfig``), when it is a pydantic model of the tree."""
    for hint in type_hints(decl.annotation, decl.module):
        if hint.kind == "class":
            found = class_def(decl.module, hint.name)
            if found and not _is_enum(*found) and class_fields(*found):
                return found
    return None


def _is_enum(module: Module, cls: ast.ClassDef) -> bool:
    names = {head_name(b) for _, klass in base_classes(module, cls) for b in klass.bases}
    return bool(names & {"Enum", "IntEnum", "StrEnum", "Flag"})


def _field_entry(decl: FieldDecl, nested: bool) -> dict[str, Any]:
    hints = type_hints(decl.annotation, decl.module)
    constrained = _constrained(decl.annotation)
    bounds = dict(decl.bounds() or {})
    choices = _choices(hints, decl.module)
    present = kinds(hints) - {"none"}
    if nested or present & {"dict"}:
        kind = "json"
    elif constrained:
        kind, extra = constrained
        bounds.update(extra or {})
    elif present & {"list", "tuple", "set"}:
        kind = "list"
    elif present == {"bool"}:
        kind = "bool"
    elif choices:
        kind = "str"
    else:
        kind = next((k for k in ("int", "float", "str") if k in present), "str")
    entry: dict[str, Any] = {"type": kind, "choices": choices, "default": _field_default(decl),
                             "boolean": kind == "bool", "negation": None, "nargs": None, "aliases": [],
                             "help": _first_sentence(_keyword_text(decl, "description") or decl.doc)}
    if kind == "list":
        item = next((h for h in hints if h.kind in ("list", "tuple", "set")), None)
        item_kinds = kinds(item.args[0]) if item is not None and item.args else set()
        entry["item_type"] = next((k for k in ("int", "float", "str") if k in item_kinds), "str")
    if bounds:
        entry["bounds"] = bounds
    status = _keyword_text(decl, "status")
    if status:
        entry["status"] = status
    return entry


def _constrained(annotation: ast.AST) -> tuple[str, dict[str, Any] | None] | None:
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name) and node.id in _CONSTRAINED:
            return _CONSTRAINED[node.id]
    return None


def _choices(hints: frozenset[Hint], module: Module) -> list | None:
    values: list = []
    for hint in hints:
        if hint.kind == "literal":
            values += list(hint.values)
        elif hint.kind == "class":
            found = class_def(module, hint.name)
            if found and _is_enum(*found):
                values += [m.value if m.value is not None else m.name for m in enum_members(*found)]
    return sorted({str(v) for v in values}) or None


def _field_call(decl: FieldDecl) -> ast.Call | None:
    value = decl.value
    return value if isinstance(value, ast.Call) and callee(value) in ("Field", "PydanticField") else None


def _keyword_text(decl: FieldDecl, key: str) -> str:
    call = _field_call(decl)
    if call is None:
        return ""
    node = next((k.value for k in call.keywords if k.arg == key), None)
    text = try_evaluate(node, Scope(decl.module)) if node is not None else ""
    return text if isinstance(text, str) else ""


def _field_default(decl: FieldDecl) -> Any:
    """A pydantic field's default: ``= v``, ``Field(v)``, ``Field(default=v)``; enum members as their value."""
    call = _field_call(decl)
    if call is None:
        node = decl.value
    else:
        node = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "default"), None)
        factory = next((k.value for k in call.keywords if k.arg == "default_factory"), None)
        if node is None and isinstance(factory, ast.Name) and class_def(decl.module, factory.id):
            return {}  # default_factory=SomeConfig: that config with its own defaults
        if node is None:
            return None  # required, or a factory we cannot evaluate
    if node is None:
        return None
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        binding = resolve(decl.module, node.value.id)
        if binding is not None and isinstance(binding.node, ast.ClassDef) and _is_enum(binding.module, binding.node):
            member = next((m for m in enum_members(binding.module, binding.node) if m.name == node.attr), None)
            if member is not None:
                return member.value if member.value is not None else member.name
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and class_def(decl.module, node.func.id):
        return {} if not node.args and not node.keywords else Unresolved(ast.unparse(node))
    value = try_evaluate(node, Scope(decl.module, cls=decl.cls))
    return value if not isinstance(value, Unresolved | type(...)) else (None if value is ... else value)
