"""What a seed task's names stand for: the engine behind a runtime name, the model behind a
ClusterBaseModel name, the flags behind quantization and parallel presets, and the GPUs it needs.

Each resolution appends a note saying which source answered, so users see how their file was read.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from .errors import SpecError
from .seed_cluster import ClusterCatalog, base_model_id, runtime_engine
from .seed_presets import (ENGINE_WORDS, MODEL_PRESETS, PARAMETER_ALIASES, RUNTIME_PRESETS, engine_word,
                           expand_parallel, expand_quant, quant_flags)
from .task import ENGINES

# the value an engine flag has when a preset leaves it alone (None: the flag is not passed)
_UNSET = {"quantization": None, "dtype": "auto", "kv-cache-dtype": "auto"}


def resolve_engine(base_runtime: str, cluster: ClusterCatalog, notes: list[str]) -> tuple[str, str | None]:
    """``base_runtime`` -> (engine, the ClusterServingRuntime it names, or None for an engine name)."""
    name = str(base_runtime)
    if name.lower() in ENGINES or name.lower() in ENGINE_WORDS:
        engine = ENGINE_WORDS.get(name.lower(), name.lower())
        notes.append(f"base_runtime -> engine = {engine!r}")
        return engine, None
    found = cluster.runtime(name)
    if found is not None and runtime_engine(found):
        engine, source = runtime_engine(found), "the cluster's ClusterServingRuntime"
    elif name in RUNTIME_PRESETS:
        engine, source = RUNTIME_PRESETS[name], "a known OME runtime"
    elif engine_word(name):
        engine, source = engine_word(name), "the engine named in the runtime's name"
    else:
        raise SpecError([f"base_runtime: {name!r} is neither an engine ({', '.join(ENGINES)}) nor a "
                         f"ClusterServingRuntime this tuner can resolve (none in a reachable cluster; known: "
                         f"{', '.join(sorted(RUNTIME_PRESETS))})"])
    notes.append(f"base_runtime {name!r} is an OME ClusterServingRuntime -> engine = {engine!r} ({source})")
    return engine, name


def _is_model_id(name: str) -> bool:
    """A Hugging Face id (``org/name``) or a local path: what an engine can load."""
    return "/" in name or Path(name).expanduser().exists()


def resolve_model(name: str, tokenizer: str | None, cluster: ClusterCatalog,
                  notes: list[str]) -> tuple[str, str | None]:
    """``model.id_or_path`` -> (model id, the ClusterBaseModel it names, or None for a model id)."""
    if _is_model_id(name):
        notes.append(f"model.id_or_path -> model.id = {name!r}")
        return name, None
    found = cluster.base_model(name)
    answers = [(found and base_model_id(found), "the cluster's ClusterBaseModel"),
               (MODEL_PRESETS.get(name), "a known OME ClusterBaseModel"),
               (tokenizer if tokenizer and _is_model_id(tokenizer) else None, "benchmark.model_tokenizer")]
    for model_id, source in answers:
        if model_id:
            notes.append(f"model.id_or_path {name!r} is an OME ClusterBaseModel -> model.id = {model_id!r} "
                         f"({source})")
            return model_id, name
    raise SpecError([f"model.id_or_path: {name!r} is neither a Hugging Face id (org/name) nor a local path, "
                     f"and no reachable cluster, known ClusterBaseModel or benchmark.model_tokenizer names its "
                     f"model; known ClusterBaseModels: {', '.join(sorted(MODEL_PRESETS))}"])


def flag_name(name: str, engine: str) -> str:
    """A seed parameter name -> our flag name (``mem_frac`` -> ``mem-fraction-static``)."""
    aliases = PARAMETER_ALIASES.get(engine, {})
    return aliases.get(name) or aliases.get(name.replace("_", "-")) or name.replace("_", "-")


def quantization(quant: dict[str, Any], engine: str, notes: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``quant_config`` -> (fixed flags, search-space flags)."""
    presets = expand_quant(quant, engine)
    mapped = [(label, quant_flags(fields, engine, notes, "quant_config")) for label, fields in presets]
    for label, flags in mapped:
        shown = " ".join(f"--{k} {v}" for k, v in flags.items()) or "(no flags: the engine's defaults)"
        notes.append(f"quant_config {label!r} -> {shown}")
    if len(mapped) == 1:
        return mapped[0][1], {}
    names = sorted({k for _, flags in mapped for k in flags})
    fixed, space = {}, {}
    for flag in names:
        values = list(dict.fromkeys(flags.get(flag, _UNSET.get(flag)) for _, flags in mapped))
        if len(values) == 1:
            fixed[flag] = values[0]
        else:
            space[flag] = values
    combos = 1
    for values in space.values():
        combos *= len(values)
    notes.append(f"quant_config.presets -> search.space {space} ({combos} combinations"
                 + (f"; {combos - len(mapped)} beyond the {len(mapped)} presets, as each flag varies on its own)"
                    if combos > len(mapped) else ")"))
    return fixed, space


def parallelism(parallel: dict[str, Any], engine: str, notes: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``parallel_config`` -> (fixed flags, search-space flags)."""
    fixed, space = {}, {}
    for flag, value in expand_parallel(parallel, engine).items():
        if isinstance(value, list):
            space[flag] = value
        else:
            fixed[flag] = value
    shown = ", ".join(f"--{k} {v}" for k, v in {**fixed, **space}.items())
    notes.append(f"parallel_config -> {shown} (lists are searched, single values fixed)")
    return fixed, space


def gpus_needed(engine: str, space: dict[str, Any], fixed: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The most GPUs any experiment needs (TP x PP x DP), and the parallel sizes that need them."""
    from ..engines import get_adapter
    adapter = get_adapter(engine)
    names = {n for axis in adapter.parallel_flags.values() for n in axis}
    varied = {flag: values for flag, values in space.items()
              if adapter.canonical({flag: 1}).keys() & names and isinstance(values, list)}
    best, where = adapter.gpu_count(fixed), {}
    for combo in itertools.product(*varied.values()):
        config = {**fixed, **dict(zip(varied, combo))}
        try:
            need = adapter.gpu_count(config)
        except (TypeError, ValueError):  # a non-numeric size: the flag check reports it
            continue
        if need > best:
            best, where = need, dict(zip(varied, combo))
    return max(best, 1), where
