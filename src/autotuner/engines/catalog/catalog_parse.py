"""Recover SGLang's and vLLM's command-line flags from their published source, statically.

:func:`sglang_flags` and :func:`vllm_flags` walk the function that builds the engine's argparse
parser (``ServerArgs.add_cli_args`` / ``make_arg_parser``) with :class:`Interpreter`: every
``*.add_argument(...)`` call becomes a flag, and the helpers that generate arguments from dataclass
fields (SGLang's ``add_cli_args_from_dataclass``, vLLM's ``get_kwargs``) are re-implemented here on
the fields' annotations, defaults and docstrings. Nothing of the engine is imported.
"""

from __future__ import annotations

import ast
import copy
from typing import Any

from .catalog_argparse import Interpreter, action_name, collect, keyword_value, set_kwarg, type_name
from .catalog_static import (
    Binding,
    Module,
    Scope,
    SourceTree,
    Unresolved,
    callee,
    class_def,
    evaluate,
    evaluate_text,
    method,
    try_evaluate,
)
from .catalog_types import FieldDecl, Hint, class_fields, kinds, scalar_type, type_hints

# ---- SGLang -----------------------------------------------------------------------------------------

def sglang_field_kwargs(decl: FieldDecl) -> tuple[list[str], dict[str, Any]] | None:
    """``add_cli_args_from_dataclass`` for one ``A[T, "help" | Arg(...)]`` field; None when not a CLI flag."""
    ann = decl.annotation
    if not (isinstance(ann, ast.Subscript) and getattr(ann.value, "id", getattr(ann.value, "attr", "")) in
            ("A", "Annotated")):
        return None
    parts = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
    scope = Scope(decl.module)
    meta: dict[str, ast.expr] | None = None
    for part in parts[1:]:
        if isinstance(part, ast.Call) and callee(part) == "Arg":
            meta = {k.arg: k.value for k in part.keywords if k.arg}
            break
        if isinstance(part, ast.Constant | ast.JoinedStr | ast.BinOp):
            meta = {"help": part}
            break
    if meta is None or ("no_cli" in meta and try_evaluate(meta["no_cli"], scope) is True):
        return None
    help_text = evaluate_text(meta["help"], scope) if "help" in meta else ""
    cli_name = try_evaluate(meta["cli_name"], scope) if "cli_name" in meta else None
    aliases = try_evaluate(meta["aliases"], scope) if "aliases" in meta else []
    names = [cli_name if isinstance(cli_name, str) else "--" + decl.name.replace("_", "-")]
    names += list(aliases) if isinstance(aliases, list | tuple) else []
    kwargs: dict[str, Any] = {"help": help_text, "default": decl.default()}
    if "action" in meta:
        kwargs["action"] = action_name(meta["action"], scope)
        extra = meta.get("action_kwargs")
        if isinstance(extra, ast.Dict):  # read key by key: `{"type": str, ...}` holds callables
            for key, value in zip(extra.keys, extra.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in ("nargs", "choices", "type", "const"):
                    set_kwarg(kwargs, key.value, keyword_value(key.value, value, scope))
        return names, kwargs
    hints = type_hints(parts[0], decl.module)
    non_none = frozenset(h for h in hints if h.kind != "none")
    inner = non_none if len(non_none) == 1 else frozenset({Hint("any")})
    (only,) = inner
    choices = try_evaluate(meta["choices"], scope) if "choices" in meta else None
    parser = type_name(meta["type_parser"], scope) if "type_parser" in meta else None
    if "nargs" in meta:
        kwargs["nargs"] = try_evaluate(meta["nargs"], scope)
    if "const" in meta:
        kwargs["const"] = try_evaluate(meta["const"], scope)
    if only.kind == "literal":
        values = list(only.values)
        first = values[0] if values else ""
        kind = "int" if isinstance(first, int) and not isinstance(first, bool) else \
            "float" if isinstance(first, float) else "str"
        set_kwarg(kwargs, "type", parser or (kind, None))
        kwargs["choices"] = choices or values
    elif only.kind == "list" and parser is None:
        item = only.args[0] if only.args else frozenset({Hint("str")})
        kwargs["type"] = scalar_type(item)
        if kwargs.get("nargs") is None:
            kwargs["nargs"] = "+"
        if choices:
            kwargs["choices"] = choices
    elif only.kind == "bool":
        kwargs["action"] = "store_true"
    else:
        set_kwarg(kwargs, "type", parser or (scalar_type(inner), None))
        if choices:
            kwargs["choices"] = choices
    return names, kwargs


def sglang_flags(tree: SourceTree) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """SGLang's ``launch_server`` flags from ``sglang/srt/server_args.py``."""
    module = tree.module("sglang.srt.server_args") or tree.module("python.sglang.srt.server_args")
    if module is None:
        raise ValueError("sglang/srt/server_args.py is not in this distribution")
    server_args = class_def(module, "ServerArgs")
    if server_args is None:
        raise ValueError("class ServerArgs not found in sglang/srt/server_args.py")
    fields = {d.name: d for d in _server_args_fields(*server_args)}
    interp = Interpreter(tree)

    def from_dataclass(call: ast.Call, scope: Scope) -> None:
        for decl in fields.values():
            built = sglang_field_kwargs(decl)
            if built:
                interp.add(*built)

    def declared_default(call: ast.Call, scope: Scope) -> Any:
        name = try_evaluate(call.args[0], scope) if call.args else None
        if name in fields:
            value = fields[name].default()
            if isinstance(value, Unresolved):
                raise value
            return value
        raise Unresolved(f"default of {name}")

    interp.intrinsics.update(add_cli_args_from_dataclass=from_dataclass, _declared_default=declared_default)
    fn = method(server_args[1], "add_cli_args")
    if fn is None:
        raise ValueError("ServerArgs.add_cli_args not found")
    interp.run(server_args[0], fn, {"parser": "parser"}, cls=server_args)
    return collect(interp)


def _server_args_fields(module: Module, cls: ast.ClassDef) -> list[FieldDecl]:
    """ServerArgs' own fields plus those of the namespace classes it collects (``collect_input_fields``)."""
    decls = class_fields(module, cls)
    for stmt in ast.walk(module.tree):
        if isinstance(stmt, ast.Call) and callee(stmt) == "collect_input_fields" and stmt.args:
            sources = stmt.args[0]
            if isinstance(sources, ast.Name) and isinstance(module.defs.get(sources.id), ast.List):
                sources = module.defs[sources.id]
            for elt in getattr(sources, "elts", []):
                found = class_def(module, elt.id) if isinstance(elt, ast.Name) else None
                if found:
                    decls += class_fields(*found)
    return decls


# ---- vLLM -------------------------------------------------------------------------------------------

_VLLM_HUMAN_INT = {"max_num_batched_tokens", "max_num_scheduled_tokens", "kv_cache_memory_bytes",
                   "safetensors_prefetch_block_size", "max_num_queued_tokens"}
VLLM_CLI_MODULES = ("vllm.entrypoints.common.cli_args", "vllm.entrypoints.launchers.cli_args",
                    "vllm.entrypoints.openai.cli_args")


def vllm_field_kwargs(decl: FieldDecl) -> dict[str, Any]:
    """``get_kwargs`` (vllm/engine/arg_utils.py) for one config-dataclass field."""
    hints = frozenset(Hint("dict") if h.kind == "class" and h.class_kind == "dict" else h
                      for h in type_hints(decl.annotation, decl.module))
    present = kinds(hints)
    kwargs: dict[str, Any] = {"default": decl.default(), "help": decl.doc}
    bounds = decl.bounds()
    if bounds:
        kwargs["bounds"] = bounds
    non_builtin = any(h.kind in ("class", "any", "callable") for h in hints)
    literal = next((h for h in hints if h.kind == "literal"), None)
    if any(h.kind == "class" and h.class_kind == "dataclass" for h in hints):
        kwargs["type"] = "json"
    elif present == {"bool", "str", "none"}:
        kwargs.update(type="str", nargs="?", const=True)
    elif "bool" in present:
        kwargs["action"] = "BooleanOptionalAction"
    elif literal is not None:
        kwargs.update(_literal_kwargs(literal, "str" in present))
    elif present & {"tuple", "list", "set"}:
        kind = next(k for k in ("tuple", "list", "set") if k in present)
        coll = next(h for h in hints if h.kind == kind)
        item = coll.args[0] if coll.args else frozenset({Hint("str")})
        item_literal = next((h for h in item if h.kind == "literal"), None)
        if item_literal is not None:
            kwargs.update(_literal_kwargs(item_literal, "str" in kinds(item)))
        else:
            kwargs["type"] = "str" if len(item) > 1 else scalar_type(item)
        kwargs["nargs"] = "+" if kind != "tuple" or coll.has_ellipsis else len(coll.args)
    elif "int" in present:
        kwargs["type"] = "int"
        if decl.name == "max_model_len":
            kwargs["format"] = "human_readable_int_or_auto"
        elif decl.name in _VLLM_HUMAN_INT:
            kwargs["format"] = "human_readable_int"
    elif "float" in present:
        kwargs["type"] = "float"
    elif "dict" in present:
        kwargs["type"] = "json"
        if "str" in present or non_builtin:
            kwargs["format"] = "json_or_str"
    else:
        kwargs["type"] = "str"
    return kwargs


def _literal_kwargs(literal: Hint, with_str: bool) -> dict[str, Any]:
    values = [v for v in literal.values if v is not None]
    first = values[0] if values else ""
    kind = "bool" if isinstance(first, bool) else "int" if isinstance(first, int) else \
        "float" if isinstance(first, float) else "str"
    try:
        ordered = sorted(values)
    except TypeError:
        ordered = values
    return {"type": kind, ("known_values" if with_str else "choices"): ordered}


def config_kwargs(module: Module, cls: ast.ClassDef) -> dict[str, dict[str, Any]]:
    return {decl.name: vllm_field_kwargs(decl) for decl in class_fields(module, cls)}


def vllm_flags(tree: SourceTree) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """``vllm serve`` flags: ``make_arg_parser`` (frontend + engine arguments)."""
    for name in VLLM_CLI_MODULES:
        module = tree.module(name)
        fn = module.defs.get("make_arg_parser") if module else None
        if isinstance(fn, ast.FunctionDef):
            break
    else:
        raise ValueError(f"make_arg_parser not found in any of {', '.join(VLLM_CLI_MODULES)}")
    interp = Interpreter(tree)
    cache: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}

    def get_kwargs(call: ast.Call, scope: Scope) -> dict[str, dict[str, Any]]:
        target = evaluate(call.args[0], scope) if call.args else None
        if not (isinstance(target, Binding) and isinstance(target.node, ast.ClassDef)):
            raise Unresolved(ast.unparse(call))
        key = (target.module.name, target.node.name)
        if key not in cache:
            cache[key] = config_kwargs(target.module, target.node)
        return copy.deepcopy(cache[key])  # callers edit their copy, as get_kwargs does

    interp.intrinsics["get_kwargs"] = get_kwargs
    interp.run(module, fn, {"parser": "parser"})
    flags, gaps = collect(interp)
    if _pairs_enable_disable(tree):
        for entry in flags.values():
            _add_inverse_spellings(entry)
    return flags, gaps


def _pairs_enable_disable(tree: SourceTree) -> bool:
    """Whether vLLM's parser turns ``--enable-x`` switches into ``--enable-x/--disable-x`` pairs."""
    module = tree.module("vllm.utils.argparse_utils")
    return module is not None and isinstance(module.defs.get("EnableDisableAction"), ast.ClassDef)


def _add_inverse_spellings(entry: dict[str, Any]) -> None:
    """``--disable-x`` switches ``--enable-x`` off (and the reverse); ``--no-enable-x`` still works."""
    if not entry.get("negation"):
        return
    spellings = [entry["negation"][3:]] + [a[2:] for a in entry["aliases"] if a.startswith("--")]
    inverses = {"enable-": "disable-", "disable-": "enable-"}
    extra = [f"--{inv}{s[len(pre):]}" for s in spellings for pre, inv in inverses.items() if s.startswith(pre)]
    if extra:
        entry["negation_aliases"] = extra
