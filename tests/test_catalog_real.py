"""The shipped catalogs against the engines' real argparse parsers (slow; skipped when no engine is importable).

SGLang and vLLM cannot be installed with their GPU dependencies here, but their parsers import with
the CPU build of torch in a throwaway virtualenv, e.g. for SGLang::

    python -m venv /tmp/sgl && /tmp/sgl/bin/pip install --no-deps sglang==0.5.23 torch triton \\
        && /tmp/sgl/bin/pip install numpy orjson psutil pybase64 requests pillow fastapi msgspec pyzmq \\
           tqdm ipython aiohttp packaging
    AUTOTUNER_SGLANG_PYTHON=/tmp/sgl/bin/python pytest tests/test_catalog_real.py

(vLLM likewise, with ``AUTOTUNER_VLLM_PYTHON``; its parser is built with ``VLLM_TARGET_DEVICE=cpu``.)
The interpreter running the tests is used when the engine imports there. The test reads the real
parser's options, then parses, one flag at a time, argv made by the engine adapter from the catalog.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from autotuner.engines import get_adapter
from autotuner.engines.catalog import CatalogError, load_catalog

pytestmark = pytest.mark.slow

PARSER_MODULES = {"sglang": "sglang.srt.server_args", "vllm": "vllm.engine.arg_utils"}
REQUIRED_ARGS = {"sglang": ["--model-path", "m"], "vllm": []}
FILE_FLAGS = {"config"}  # must name an existing YAML file: no sample value

HELPER = r"""
import argparse, contextlib, importlib.metadata, io, json, sys
engine = sys.argv[1]
if engine == "sglang":
    from sglang.srt.server_args import ServerArgs
    parser = argparse.ArgumentParser()
    ServerArgs.add_cli_args(parser)
else:
    try:
        from vllm.entrypoints.common.cli_args import make_arg_parser
    except ImportError:
        from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser
    parser = make_arg_parser(FlexibleArgumentParser())
actions = []
for a in parser._actions:
    if not a.option_strings or "--help" in a.option_strings:
        continue
    choices = None if a.choices is None else sorted(str(c) for c in a.choices if c is not None)
    actions.append({"options": list(a.option_strings), "choices": choices, "nargs": a.nargs})
results = []
for argv in json.load(sys.stdin):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
        results.append(None)
    except SystemExit:
        results.append(err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "exit")
    except Exception as exc:
        results.append(f"{type(exc).__name__}: {exc}")
print("\n@@RESULT@@" + json.dumps({"version": importlib.metadata.version(engine), "actions": actions,
                                   "results": results}))
"""


def engine_python(engine: str) -> str:
    configured = os.environ.get(f"AUTOTUNER_{engine.upper()}_PYTHON")
    if configured:
        return configured
    if importlib.util.find_spec(engine) is not None:
        return sys.executable
    pytest.skip(f"{engine} is not importable here (its GPU dependencies cannot be installed); set "
                f"AUTOTUNER_{engine.upper()}_PYTHON to an interpreter where `import {PARSER_MODULES[engine]}` works")


def run_real_parser(engine: str, argvs: list[list[str]]) -> dict[str, Any]:
    env = {**os.environ, "VLLM_TARGET_DEVICE": "cpu"}
    proc = subprocess.run([engine_python(engine), "-c", HELPER, engine], input=json.dumps(argvs), text=True,
                          capture_output=True, env=env, timeout=600, check=False)
    if "@@RESULT@@" not in proc.stdout:
        pytest.skip(f"the real {engine} parser could not be built: {proc.stderr.strip()[-600:]}")
    return json.loads(proc.stdout.split("@@RESULT@@", 1)[1])


def sample_value(catalog, name: str, entry: dict[str, Any]) -> Any:
    """A value the catalog accepts for the flag, or None when it cannot know one (custom text formats, JSON)."""
    if entry["boolean"]:
        return True
    kind = entry["type"]
    item_kind = entry.get("item_type", kind)
    if kind == "json" or (item_kind == "str" and entry.get("format") and not entry.get("choices")):
        return None
    candidates: list[Any] = list(entry.get("choices") or [])
    candidates += [entry.get("default")] if not isinstance(entry.get("default"), list | dict | bool) else []
    candidates += {"int": [1, 2, 0], "float": [0.5, 1.0], "str": ["x"]}.get(item_kind, [])
    for value in candidates:
        value = [value] if kind == "list" else value
        if value not in (None, [None]) and catalog.check(name, value) is None:
            return value
    return None


@pytest.mark.parametrize("engine", ["sglang", "vllm"])
def test_catalog_matches_the_real_parser(engine):
    probe = run_real_parser(engine, [])
    try:
        catalog = load_catalog(engine, probe["version"])
    except CatalogError as exc:
        pytest.skip(f"installed {engine} {probe['version']} has no shipped catalog: {exc}")
    notes = " ".join(catalog.provenance.get("notes", []))
    real = {next(o for o in a["options"] if o.startswith("--"))[2:]: a for a in probe["actions"]}
    assert set(real) == set(catalog.flags)
    problems = []
    for name, action in real.items():
        entry = catalog.flags[name]
        spellings = {f"--{name}", *entry["aliases"], *entry.get("negation_aliases", [])}
        if entry["negation"]:
            spellings.add(f"--{entry['negation']}")
        if set(action["options"]) - spellings:
            problems.append(f"{name}: real spellings {action['options']} vs catalog {sorted(spellings)}")
        real_choices = action["choices"]
        if real_choices is not None and sorted(map(str, entry["choices"] or [])) != real_choices and name not in notes:
            problems.append(f"{name}: real choices {action['choices']} vs catalog {entry['choices']}")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("engine", ["sglang", "vllm"])
def test_adapter_argv_from_the_catalog_parses(engine):
    """Every flag with a value the catalog accepts parses; values the catalog rejects are rejected too."""
    try:
        catalog = load_catalog(engine, run_real_parser(engine, [])["version"])
    except CatalogError as exc:
        pytest.skip(str(exc))
    adapter = get_adapter(engine)
    required = REQUIRED_ARGS[engine]
    cases: list[tuple[str, list[str], bool]] = []
    for name, entry in catalog.flags.items():
        if entry.get("deprecated") or name in FILE_FLAGS:
            continue
        value = sample_value(catalog, name, entry)
        if value is not None:
            cases.append((f"{name}={value!r}", required + adapter.flag_args({name: value}), True))
        for negative in ([entry["negation"]] if entry["negation"] else []) + entry.get("negation_aliases", []):
            cases.append((negative, required + [f"--{negative.lstrip('-')}"], True))
        bad = "not-a-choice" if entry.get("choices") else "abc" if entry["type"] in ("int", "float") else None
        if bad is not None and not entry.get("format"):
            assert catalog.check(name, bad) is not None
            cases.append((f"{name}={bad!r}", required + adapter.flag_args({name: bad}), False))
    results = run_real_parser(engine, [argv for _, argv, _ in cases])["results"]
    wrong = [f"{label}: {'rejected: ' + str(err) if ok else 'accepted by the engine'}"
             for (label, _, ok), err in zip(cases, results, strict=True) if (err is None) != ok]
    assert len(cases) > 300
    assert wrong == [], "\n".join(wrong)
