"""The simulated ``trtllm-serve``'s command line: its click options and the extra-options YAML.

``trtllm-serve MODEL [--max_batch_size N --max_num_tokens N --tp_size N ...]
[--extra_llm_api_options FILE]``: the LLM-API options in the YAML file override the command line,
as in the real server. The options the simulator models are read from it (batch and token limits,
chunked context, the capacity scheduler policy, CUDA graphs, the overlap scheduler, the KV cache
config); any other key is listed in ``EngineConfig.ignored``. A bad value is a ``SimConfigError``
naming the option and what it allows.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from .errors import SimConfigError

CAPACITY_POLICIES = ("GUARANTEED_NO_EVICT", "MAX_UTILIZATION")
KV_DTYPES = ("auto", "fp8", "nvfp4")
DEFAULT_MAX_BATCH_SIZE = 2048
DEFAULT_MAX_NUM_TOKENS = 8192
DEFAULT_FREE_FRACTION = 0.9
DEFAULT_GRAPH_MAX_BS = 128  # CudaGraphConfig() with no sizes captures batches up to 128
TOKENS_PER_BLOCK = 32
# YAML keys the simulator reads (a dict: its sub-keys); the rest are reported as ignored
_MODELLED: dict[str, set[str] | None] = {
    **dict.fromkeys(("max_batch_size", "max_num_tokens", "max_seq_len", "enable_chunked_prefill",
                     "disable_overlap_scheduler", "tensor_parallel_size", "pipeline_parallel_size",
                     "moe_expert_parallel_size", "trust_remote_code")),
             "cuda_graph_config": {"max_batch_size", "batch_sizes", "enable_padding"},
             "kv_cache_config": {"free_gpu_memory_fraction", "dtype", "enable_block_reuse", "tokens_per_block",
                                 "max_tokens"},
             "scheduler_config": {"capacity_scheduler_policy", "context_chunking_policy"}}


def add_trtllm_flags(p: argparse.ArgumentParser, positive_int, fraction) -> None:
    p.add_argument("--tokenizer")
    p.add_argument("--backend", choices=("pytorch", "tensorrt", "trt", "_autodeploy"), default="pytorch")
    p.add_argument("--max_batch_size", type=positive_int)
    p.add_argument("--max_num_tokens", type=positive_int)
    p.add_argument("--max_seq_len", type=positive_int)
    p.add_argument("--max_beam_width", type=positive_int, default=1)
    p.add_argument("--tensor_parallel_size", "--tp_size", dest="tp", type=positive_int, default=1)
    p.add_argument("--pipeline_parallel_size", "--pp_size", dest="pp", type=positive_int, default=1)
    p.add_argument("--moe_expert_parallel_size", "--ep_size", dest="ep", type=positive_int)
    p.add_argument("--free_gpu_memory_fraction", "--kv_cache_free_gpu_memory_fraction", type=fraction)
    p.add_argument("--enable_chunked_prefill", action="store_true")
    p.add_argument("--trust_remote_code", action="store_true")
    p.add_argument("--extra_llm_api_options", "--config", dest="extra_options")
    p.add_argument("--log_level", default="info")


def read_extra_options(path: str | None) -> tuple[dict[str, Any], str]:
    """The YAML mapping at ``path`` and its text ({} and "" without a path)."""
    if not path:
        return {}, ""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise SimConfigError(f"trtllm-serve: error: --extra_llm_api_options: cannot read {path!r}: {e.strerror}")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise SimConfigError(f"trtllm-serve: error: --extra_llm_api_options {path!r} is not valid YAML: {e}")
    if not isinstance(data, dict):
        raise SimConfigError(f"trtllm-serve: error: --extra_llm_api_options {path!r} must hold a mapping of "
                             f"LLM-API options, got {type(data).__name__}")
    return data, text


def ignored_options(extra: dict[str, Any]) -> list[str]:
    out = []
    for key, value in extra.items():
        known = _MODELLED.get(key)
        if key not in _MODELLED:
            out.append(f"extra.{key}")
        elif isinstance(known, set) and isinstance(value, dict):
            out += [f"extra.{key}.{sub}" for sub in value if sub not in known]
    return out


def _bad(name: str, allowed: str, value: Any) -> SimConfigError:
    return SimConfigError(f"trtllm-serve: error: {name}: expects {allowed}, got {value!r}")


def _int(name: str, value: Any, low: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _bad(name, f"an integer >= {low}", value)
    return value


def _flag(name: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _bad(name, "true or false", value)


def _section(extra: dict[str, Any], key: str) -> dict[str, Any]:
    value = extra.get(key) or {}
    if not isinstance(value, dict):
        raise _bad(f"extra.{key}", "a mapping", value)
    return value


def trtllm_settings(ns: argparse.Namespace, extra: dict[str, Any]) -> dict[str, Any]:
    """``EngineConfig`` fields from the parsed command line with the YAML over it."""
    kv = _section(extra, "kv_cache_config")
    sched = _section(extra, "scheduler_config")
    policy = sched.get("capacity_scheduler_policy", "GUARANTEED_NO_EVICT")
    if policy not in CAPACITY_POLICIES:
        raise _bad("extra.scheduler_config.capacity_scheduler_policy", "one of " + ", ".join(CAPACITY_POLICIES),
                   policy)
    kv_dtype = kv.get("dtype", "auto")
    if kv_dtype not in KV_DTYPES:
        raise _bad("extra.kv_cache_config.dtype", "one of " + ", ".join(KV_DTYPES), kv_dtype)
    fraction = kv.get("free_gpu_memory_fraction", ns.free_gpu_memory_fraction)
    if fraction is not None and (isinstance(fraction, bool) or not isinstance(fraction, int | float)
                                 or not 0 < fraction <= 1):
        raise _bad("extra.kv_cache_config.free_gpu_memory_fraction", "a number in (0, 1]", fraction)
    graphs = extra.get("cuda_graph_config", {})  # null turns CUDA graphs off
    if graphs is not None and not isinstance(graphs, dict):
        raise _bad("extra.cuda_graph_config", "a mapping or null", graphs)
    graph_bs = None
    if graphs is not None:
        sizes = graphs.get("batch_sizes")
        if sizes is not None and (not isinstance(sizes, list) or not sizes
                                  or not all(isinstance(s, int) and s > 0 for s in sizes)):
            raise _bad("extra.cuda_graph_config.batch_sizes", "a list of positive integers", sizes)
        graph_bs = max(sizes) if sizes else _int("extra.cuda_graph_config.max_batch_size",
                                                 graphs.get("max_batch_size"), low=0) or None
    chunked = _flag("extra.enable_chunked_prefill", extra.get("enable_chunked_prefill"))
    return dict(
        tp=_int("extra.tensor_parallel_size", extra.get("tensor_parallel_size")) or ns.tp,
        pp=_int("extra.pipeline_parallel_size", extra.get("pipeline_parallel_size")) or ns.pp,
        max_running=_int("extra.max_batch_size", extra.get("max_batch_size")) or ns.max_batch_size,
        max_batched_tokens=_int("extra.max_num_tokens", extra.get("max_num_tokens")) or ns.max_num_tokens,
        context_length=_int("extra.max_seq_len", extra.get("max_seq_len")) or ns.max_seq_len,
        chunked_prefill=chunked if chunked is not None else ns.enable_chunked_prefill,
        overlap_schedule=not _flag("extra.disable_overlap_scheduler", extra.get("disable_overlap_scheduler")),
        schedule_policy=policy, mem_fraction=fraction, kv_cache_dtype=kv_dtype,
        prefix_cache=_flag("extra.kv_cache_config.enable_block_reuse", kv.get("enable_block_reuse")) is not False,
        block_size=_int("extra.kv_cache_config.tokens_per_block", kv.get("tokens_per_block")) or TOKENS_PER_BLOCK,
        max_total_tokens=_int("extra.kv_cache_config.max_tokens", kv.get("max_tokens")),
        cuda_graph=graphs is not None, cuda_graph_max_bs=graph_bs,
        trust_remote_code=ns.trust_remote_code or extra.get("trust_remote_code") is True)


def argv_for_noise(argv: list[str], text: str) -> tuple[str, ...]:
    """The command line with the extra-options path replaced by the file's text: the same options give
    the same run-to-run noise wherever the deployer wrote the file."""
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg in ("--extra_llm_api_options", "--config"):
            out[i + 1] = text
    return tuple(out)


def trtllm_defaults(cfg, context: int):
    """What trtllm-serve chooses for unset values (its click defaults)."""
    budget = cfg.max_batched_tokens or DEFAULT_MAX_NUM_TOKENS
    return replace(cfg, max_running=cfg.max_running or DEFAULT_MAX_BATCH_SIZE, max_batched_tokens=budget,
                   chunk_size=budget, max_prefill_tokens=budget, context_length=context,
                   mem_fraction=cfg.mem_fraction or DEFAULT_FREE_FRACTION,
                   cuda_graph_max_bs=cfg.cuda_graph_max_bs or DEFAULT_GRAPH_MAX_BS)
