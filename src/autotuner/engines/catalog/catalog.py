"""Shipped flag catalogs (``catalogs/<engine>-<version>.json``) and checks of a task's flags against them.

A catalog lists every command-line flag of one engine release: type, choices, default, whether it
is a boolean switch (and its ``--no-`` form), aliases and a one-sentence help. The SGLang and vLLM
catalogs are generated from the engines' published wheels by ``scripts/gen_flag_catalogs.py``.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

CATALOG_DIR = Path(__file__).parent.parent / "catalogs"  # the data stays beside the adapters
MAX_LISTED_CHOICES = 30
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_HUMAN_INT = re.compile(r"^\d+(\.\d+)?[kKmMgGtT]$")  # 4k, 1.5M: the engines' human_readable_int
_HUMAN_FORMATS = ("human_readable_int", "human_readable_int_or_auto")
_TYPE_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
               "json": "a JSON object"}


class CatalogError(ValueError):
    """No catalog for the engine or version asked for."""


@dataclass(frozen=True)
class Catalog:
    engine: str
    version: str
    flags: dict[str, dict[str, Any]]
    provenance: Any = None

    @property
    def _lenient_spelling(self) -> bool:
        # vLLM's FlexibleArgumentParser takes --max_num_seqs for --max-num-seqs and --json-flag.key for JSON
        # flags; SGLang's plain argparse takes neither.
        return self.engine == "vllm"

    @functools.cached_property
    def _index(self) -> dict[str, str]:
        """Every long spelling (name or alias, without dashes) -> catalog name."""
        index: dict[str, str] = {}
        for name, entry in self.flags.items():
            for alias in entry.get("aliases") or []:
                if alias.startswith("--"):
                    index.setdefault(alias[2:], name)
            for negative in [entry.get("negation")] + list(entry.get("negation_aliases") or []):
                if negative:
                    index.setdefault(negative.lstrip("-"), name)
        index.update({name: name for name in self.flags})
        return index

    def lookup(self, flag: str) -> tuple[str, dict[str, Any]] | None:
        """(catalog name, entry) for a flag spelling (``tp-size``, ``--tp-size``, an alias); None if unknown."""
        name = flag.lstrip("-")
        if self._lenient_spelling:
            name = name.replace("_", "-")
        found = self._index.get(name)
        return (found, self.flags[found]) if found else None

    def suggest(self, flag: str, n: int = 3) -> list[str]:
        name = flag.lstrip("-")
        if self._lenient_spelling:
            name = name.replace("_", "-")
        return difflib.get_close_matches(name, list(self.flags), n=n, cutoff=0.6) or \
            difflib.get_close_matches(name.replace("_", "-"), list(self.flags), n=n, cutoff=0.6)

    def check(self, flag: str, value: Any) -> str | None:
        """What is wrong with ``--flag value`` for this release, or None. ``None`` values mean "leave out"."""
        found = self.lookup(flag)
        if found is None:
            head = flag.lstrip("-").split(".", 1)[0]
            parent = self.lookup(head) if self._lenient_spelling and "." in flag else None
            if parent is not None and parent[1]["type"] == "json":
                return None  # --compilation-config.mode 3: one key of a JSON flag
            return self._unknown(flag)
        if value is None:
            return None
        return _check_value(found[1], value)

    def _unknown(self, flag: str) -> str:
        text = f"unknown flag '{flag.lstrip('-')}' for {self.engine} {self.version}"
        matches = self.suggest(flag)
        if matches:
            quoted = [f"'{m}'" for m in matches]
            listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
            return f"{text}; did you mean {listed}?"
        return f"{text} (list them with `autotuner engines flags {self.engine} --version {self.version}`)"


def _check_value(entry: dict[str, Any], value: Any) -> str | None:
    if entry.get("boolean"):
        if isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false")):
            return None
        return f"is a switch: expects true or false (got {_show(value)})"
    kind = entry.get("type", "str")
    if entry.get("nargs") == "?" and value is True:
        return None  # a bare flag takes the flag's own constant
    if kind == "list":
        items = list(value) if isinstance(value, list | tuple) else [value]
        if not items and entry.get("nargs") == "+":
            return "expects at least one value"
        for item in items:
            problem = _check_scalar(entry.get("item_type") or "str", entry, item)
            if problem:
                return problem
        return None
    if kind == "json":
        return _check_json(entry, value)
    if isinstance(value, list | tuple | dict):
        return f"expects a single value (got {_show(value)})"
    return _check_scalar(kind, entry, value)


def _check_scalar(kind: str, entry: dict[str, Any], value: Any) -> str | None:
    if isinstance(value, dict | list | tuple):
        return f"expects {_TYPE_WORDS.get(kind, 'a value')} (got {_show(value)})"
    fmt = entry.get("format")
    number: float | None = None
    if kind == "int":
        if isinstance(value, str) and fmt in _HUMAN_FORMATS and (
                _HUMAN_INT.match(value) or (fmt.endswith("auto") and value.lower() == "auto")):
            return _check_choices(entry, value)
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and _INT.match(value))):
            return f"expects an integer (got {_show(value)})"
        number = int(value)
    elif kind == "float":
        if isinstance(value, bool) or not (isinstance(value, int | float) or
                                           (isinstance(value, str) and _FLOAT.match(value))):
            return f"expects a number (got {_show(value)})"
        number = float(value)
    elif kind == "str" and isinstance(value, bool):
        return f"expects a value, not {_show(value)}"
    if number is not None:
        problem = _check_bounds(entry.get("bounds") or {}, number, value)
        if problem:
            return problem
    return _check_choices(entry, value)


def _check_choices(entry: dict[str, Any], value: Any) -> str | None:
    choices = entry.get("choices")
    if not choices or str(value) in {str(c) for c in choices}:
        return None
    shown = [str(c) for c in choices[:MAX_LISTED_CHOICES]]
    more = f" (and {len(choices) - MAX_LISTED_CHOICES} more)" if len(choices) > MAX_LISTED_CHOICES else ""
    return f"{_show(value)} is not allowed; allowed: {', '.join(shown)}{more}"


def _check_bounds(bounds: dict[str, Any], number: float, value: Any) -> str | None:
    tests = {"gt": (lambda b: number > b, ">"), "ge": (lambda b: number >= b, ">="),
             "lt": (lambda b: number < b, "<"), "le": (lambda b: number <= b, "<=")}
    for key, bound in bounds.items():
        test, sign = tests.get(key, (None, ""))
        if test is not None and not test(bound):
            return f"must be {sign} {bound} (got {_show(value)})"
    return None


def _check_json(entry: dict[str, Any], value: Any) -> str | None:
    if isinstance(value, dict | list):
        return None
    if isinstance(value, str):
        if entry.get("format") == "json_or_str" and not value.lstrip().startswith(("{", "[")):
            return None
        try:
            json.loads(value)
            return None
        except ValueError as exc:
            return f"expects JSON (got {_show(value)}: {exc})"
    return f"expects a JSON object (got {_show(value)})"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value) if isinstance(value, str) else json.dumps(value) if isinstance(value, list | dict) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---- shipped catalogs --------------------------------------------------------------------------------

def version_key(version: str) -> tuple:
    """Orders ``0.5.9 < 0.5.10 < 0.5.10.post1``; pre-release tags sort before the release."""
    parts = re.split(r"[.+\-]", version)
    key: list[tuple[int, Any]] = []
    for part in parts:
        if part.isdigit():
            key.append((1, int(part)))
        elif part.startswith("post") and part[4:].isdigit():
            key.append((2, int(part[4:])))
        else:
            key.append((0, part))
    return tuple(key)


def _files(engine: str) -> dict[str, Path]:
    out = {}
    for path in CATALOG_DIR.glob(f"{engine}-*.json"):
        out[path.stem[len(engine) + 1:]] = path
    return out


def available_versions(engine: str) -> list[str]:
    """Shipped catalog versions of ``engine``, oldest first (the last is the newest)."""
    return sorted(_files(engine), key=version_key)


def resolve_version(engine: str, version: str | None = None) -> str:
    """The shipped version for ``version``: exact, else the newest matching prefix (``0.5``); None = newest."""
    versions = available_versions(engine)
    if not versions:
        raise CatalogError(f"no flag catalog is shipped for engine {engine!r}")
    if version is None:
        return versions[-1]
    version = version.lstrip("v")
    if version in versions:
        return version
    prefixed = [v for v in versions if v.startswith(version + ".")]
    if prefixed:
        return prefixed[-1]
    raise CatalogError(f"no flag catalog for {engine} {version}; shipped: {', '.join(versions)}")


def nearest_version(engine: str, version: str | None) -> str:
    """Like :func:`resolve_version`, but an unshipped version falls back to the closest shipped one."""
    try:
        return resolve_version(engine, version)
    except CatalogError:
        versions = available_versions(engine)
        if not versions or version is None:
            raise
        older = [v for v in versions if version_key(v) <= version_key(version)]
        return older[-1] if older else versions[0]


@functools.lru_cache(maxsize=16)
def _load(engine: str, version: str) -> Catalog:
    data = json.loads(_files(engine)[version].read_text())
    return Catalog(engine=data.get("engine", engine), version=data.get("version", version),
                   flags=data["flags"], provenance=data.get("provenance"))


def load_catalog(engine: str, version: str | None = None) -> Catalog:
    """The catalog of ``engine`` at ``version`` (None: the newest shipped). Unknown version -> CatalogError."""
    return _load(engine, resolve_version(engine, version))


def validate_flags(engine: str, version: str | None, flags: dict[str, Any], where: str,
                   aliases: Mapping[str, str] | None = None) -> list[str]:
    """Problems with a task's engine flags, each ``"<where>.<flag>: ..."``; empty when all are fine.

    ``aliases``: canonical names (``tp``, ``kv_cache_dtype``...) -> the engine's flags, mapped first
    (the adapter's; ``engines.preflight.check_flags`` passes them). A version
    without a shipped catalog is checked against the nearest shipped one; an engine without any
    catalog is not checked.
    """
    try:
        catalog = load_catalog(engine, nearest_version(engine, version))
    except CatalogError:
        return []
    aliases = aliases or {}
    prefix = f"{where}." if where else ""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for key, value in flags.items():
        flag = aliases.get(key.lstrip("-"), key.lstrip("-"))
        problem = catalog.check(flag, value)
        found = catalog.lookup(flag)
        if problem is None and found is not None and value is not None:
            if found[0] in seen:
                problem = f"sets --{found[0]} again (already set as '{seen[found[0]]}')"
            seen[found[0]] = key
        if problem:
            problems.append(f"{prefix}{key}: {problem}")
    return problems

