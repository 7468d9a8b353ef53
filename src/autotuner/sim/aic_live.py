"""Step-time tables measured by NVIDIA's aiconfigurator, built on demand (optional ``autotuner[aic]``).

aiconfigurator (Apache-2.0) ships kernel timings measured on H100/H200/A100/L40S... for SGLang, vLLM
and TensorRT-LLM, and composes them into the latency of one engine iteration. ``build_table`` asks
its SDK for the pieces of such an iteration on a small grid, in the form ``TableCostModel`` reads:

* ``prefill_linear_ms[T]``: every operation but attention (GEMMs, norms, MoE, all-reduces, the LM
  head for one row) of a step of ``T`` tokens, as aiconfigurator prices a step with prefill;
* ``decode_linear_ms[T]``: the same for a decode-only step of ``T`` sequences (LM head for all rows);
* ``decode_attn``: decode attention of ``batch`` sequences of ``context`` tokens each;
* ``prefill_attn``: context attention of ``batch`` new sequences of ``seq`` tokens each;
* ``prefix_attn``: what attending to ``cached`` tokens already in the KV cache adds to the context
  attention of one sequence of ``seq`` new tokens (a chunk of a long prompt, a prefix-cache hit);
* ``memory``: weight bytes and KV bytes per token per GPU, activation bytes per token, as
  aiconfigurator's memory model counts them (less the second copy of a tied LM head, which it
  counts twice).

A step is then ``linear + attention`` exactly as aiconfigurator's own mixed-step estimate composes
it. ``scripts/gen_step_tables.py`` builds the shipped tables with ``build_table``; ``cached_table``
builds (and caches on disk) one that no shipped table covers, for ``table_model.select_cost_model``.
The SDK calls used here are aiconfigurator 0.12's; other versions may need this file adjusted.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib.util
import io
import json
import logging
import os
from functools import lru_cache
from pathlib import Path

from ..hardware.models import ModelSpec, builtin_model, load_model

SCHEMA = 2
# sim GPU name -> aiconfigurator system
AIC_SYSTEMS = {"h100": "h100_sxm", "h200": "h200_sxm", "a100": "a100_sxm", "l40s": "l40s"}
# sim built-in model -> the id aiconfigurator bundles a config for (others get a written config.json)
AIC_MODEL_IDS = {
    "meta-llama/Llama-3.1-8B": "meta-llama/Meta-Llama-3.1-8B",
    "meta-llama/Llama-3.1-70B": "meta-llama/Meta-Llama-3.1-70B",
    "Qwen/Qwen3-0.6B": "Qwen/Qwen3-0.6B",
    "Qwen/Qwen3-8B": "Qwen/Qwen3-8B",
    "Qwen/Qwen3-32B": "Qwen/Qwen3-32B",
    "Qwen/Qwen3-30B-A3B": "Qwen/Qwen3-30B-A3B",
}
# Grid of the tables: log-spaced, dense where GEMMs change regime (tens to hundreds of rows).
TOKENS = [1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096,
          6144, 8192, 12288, 16384, 24576, 32768]
DECODE_BATCH = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
DECODE_CONTEXT = [64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]
PREFILL_BATCH = [1, 2, 4, 8, 16, 32, 64]
PREFILL_SEQ = [16, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768]
PREFIX_CACHED = [512, 2048, 8192, 32768, 131072]
MIN_EXTRA_MS = 1e-3  # floor of the cached-token extra: on tiny shapes the prefix kernels measure faster
KV_DTYPES = ("auto", "fp8")
WEIGHT_QUANTS = ("bf16", "fp8")
CACHE_ENV = "AUTOTUNER_AIC_CACHE"


class AicUnavailable(RuntimeError):
    """aiconfigurator is not installed, or cannot price this combination."""


def available() -> bool:
    """Whether aiconfigurator is installed (found, not imported: importing it takes seconds)."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in ("aiconfigurator", "aiconfigurator_core"))
    except (ImportError, ValueError):
        return False


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("aiconfigurator", "aiconfigurator-core"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def kv_key(kv_cache_dtype: str | None) -> str:
    """The engine's ``--kv-cache-dtype`` as a table key: ``fp8`` for any FP8 format, else ``auto``."""
    return "fp8" if (kv_cache_dtype or "auto").lower().startswith("fp8") else "auto"


def quant_key(quantization: str | None) -> str | None:
    """The engine's ``--quantization`` as a table key, or None when no table format matches it."""
    if quantization is None:
        return "bf16"
    return "fp8" if quantization in ("fp8", "w8a8_fp8") else None


def hf_config(spec: ModelSpec) -> dict:
    """A Hugging Face ``config.json`` with ``spec``'s shape, for aiconfigurator to read offline."""
    cfg = {
        "architectures": [spec.architecture], "hidden_size": spec.hidden, "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads, "num_key_value_heads": spec.kv_heads, "head_dim": spec.head_dim,
        "intermediate_size": spec.intermediate, "vocab_size": spec.vocab,
        "max_position_embeddings": spec.max_context, "tie_word_embeddings": spec.tie_embeddings,
        "torch_dtype": "bfloat16", "hidden_act": "silu", "rms_norm_eps": 1e-6, "rope_theta": 500000.0,
    }
    if spec.is_moe:
        cfg.update(num_experts=spec.num_experts, num_experts_per_tok=spec.experts_per_token,
                   moe_intermediate_size=spec.moe_intermediate, norm_topk_prob=True)
    return cfg


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or os.path.join(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache",
                                                      "autotuner", "aic")
    return Path(root)


def aic_model_path(model_id: str, spec: ModelSpec | None = None) -> str:
    """What to hand aiconfigurator for ``model_id``: its bundled id, the local directory, or a written config."""
    path = Path(model_id).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return str(path)
    found = builtin_model(model_id)
    if found is not None and found.name in AIC_MODEL_IDS:
        return AIC_MODEL_IDS[found.name]
    spec = spec or load_model(model_id)
    text = json.dumps(hf_config(spec), sort_keys=True, indent=1)
    folder = cache_dir() / "configs" / hashlib.sha1(text.encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(text, encoding="utf-8")
    return str(folder)


@contextlib.contextmanager
def _quiet():
    """aiconfigurator logs chatty INFO lines and prints warnings; keep them out of the engine's log."""
    loggers = [logging.getLogger(n) for n in ("aiconfigurator", "aiconfigurator_core", "")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@lru_cache(maxsize=16)
def _database(system: str, backend: str):
    from aiconfigurator.sdk.perf_database import get_database_view, get_latest_database_version

    version = get_latest_database_version(system=system, backend=backend)
    if version is None:
        raise AicUnavailable(f"aiconfigurator has no {backend} data for {system}")
    db = get_database_view(system, backend, version, allow_missing_data=False, database_mode="SILICON",
                           transfer_policy=None)
    if db is None:
        raise AicUnavailable(f"aiconfigurator cannot load its {backend} {version} data for {system}")
    return db


def _model(model_path: str, backend: str, tp: int, kv: str, quant: str, db, fmha: str | None = None):
    from aiconfigurator.sdk.config_builders import build_model_config
    from aiconfigurator.sdk.models import check_is_moe, get_model, resolve_context_fmha_by_data
    from aiconfigurator.sdk.moe_comm_resolver import resolve_model_config_moe_comm

    moe = check_is_moe(model_path)
    # SGLang and vLLM shard experts like the other layers unless expert parallelism is asked for.
    mc = build_model_config(tp, 1, 1, tp if moe else None, 1 if moe else None,
                            gemm_quant_mode="fp8" if quant == "fp8" else None,
                            kvcache_quant_mode="fp8" if kv == "fp8" else None, fmha_quant_mode=fmha,
                            moe_quant_mode=("fp8" if quant == "fp8" else None) if moe else None)
    if moe:
        resolve_model_config_moe_comm(mc, model_path=model_path, backend_name=backend, database=db,
                                      required_phases=("context", "generation"),
                                      fmha_quant_mode_explicit=fmha is not None,
                                      kvcache_quant_mode_explicit=kv == "fp8")
    resolve_context_fmha_by_data(mc, model_path, db, backend, is_context_role=True)
    return get_model(model_path, mc, backend)


def _r(x: float) -> float:
    return float(f"{x:.4g}")


def build_table(model_id: str, gpu: str, engine: str, tp: int = 1, kv_dtype: str = "auto",
                quant: str = "bf16", spec: ModelSpec | None = None) -> dict:
    """The step-time table of ``model_id`` served by ``engine`` on ``gpu`` with ``tp`` GPUs.

    ``kv_dtype`` in ``auto``/``fp8``, ``quant`` in ``bf16``/``fp8`` (weights). Raises ``AicUnavailable``
    when aiconfigurator is missing or has no data for the combination.
    """
    if not available():
        raise AicUnavailable("aiconfigurator is not installed (pip install 'autotuner[aic]')")
    system = AIC_SYSTEMS.get(gpu.lower(), gpu.lower())
    if engine not in ("sglang", "vllm", "trtllm"):
        raise ValueError(f"engine {engine!r} is not one of: sglang, vllm, trtllm")
    if kv_dtype not in KV_DTYPES or quant not in WEIGHT_QUANTS:
        raise ValueError(f"kv_dtype must be one of {KV_DTYPES} and quant one of {WEIGHT_QUANTS}")
    try:
        from aiconfigurator.sdk.backends.factory import get_backend
        from aiconfigurator.sdk.rust_engine_step import _cached_engine_handle, _engine_handle_cache_clear
    except ImportError as e:
        raise AicUnavailable(f"aiconfigurator cannot be imported: {e}") from e

    spec = spec or load_model(model_id)
    model_path = aic_model_path(model_id, spec)
    try:
        with _quiet():
            db = _database(system, engine)
            try:
                model = _model(model_path, engine, tp, kv_dtype, quant, db)
                handle = _cached_engine_handle(model, db)
                table = _measure(handle, model, db, get_backend(engine))
            except Exception:
                if kv_dtype != "fp8":
                    raise
                # Some FP8-KV attention kernels are measured only with FP8 attention math.
                model = _model(model_path, engine, tp, kv_dtype, quant, db, fmha="fp8")
                handle = _cached_engine_handle(model, db)
                table = _measure(handle, model, db, get_backend(engine))
    except AicUnavailable:
        raise
    except Exception as e:  # aiconfigurator raises many kinds; all mean "cannot price this"
        raise AicUnavailable(f"aiconfigurator cannot price {model_id} on {system} ({engine}, TP {tp}, "
                             f"KV {kv_dtype}, weights {quant}): {type(e).__name__}: {e}") from e
    finally:
        _engine_handle_cache_clear()  # each handle pins its own copy of the database
    if spec.tie_embeddings:  # aiconfigurator counts a tied LM head and embedding twice
        table["memory"]["weight_bytes"] -= int(spec.vocab * spec.hidden * spec.dtype_bytes / tp)
    canonical = builtin_model(model_id)
    table["key"] = {"gpu": gpu.lower(), "system": system, "engine": engine, "engine_version": str(db.version),
                    "model": canonical.name if canonical else model_id,
                    "aic_model": "config.json of the simulator's shape" if model_path.startswith(str(cache_dir()))
                    else model_path, "tp": tp,
                    "kv_dtype": kv_dtype, "quant": quant}
    table["shape"] = {"layers": spec.layers, "vocab": spec.vocab, "hidden": spec.hidden}
    return table


def _measure(handle, model, db, backend) -> dict:
    ctx_ops, gen_ops = model.context_ops, model.generation_ops
    ctx_attn = [i for i, op in enumerate(ctx_ops) if type(op).__name__ == "ContextAttention"]
    gen_attn = [i for i, op in enumerate(gen_ops) if type(op).__name__ == "GenerationAttention"]
    if len(ctx_attn) != 1 or len(gen_attn) != 1:
        raise AicUnavailable("the model's operations are not one attention plus linear layers")
    ctx_rest = [i for i in range(len(ctx_ops)) if i not in ctx_attn]
    gen_rest = [i for i in range(len(gen_ops)) if i not in gen_attn]

    def total(values) -> float:
        return sum(v[1] for v in values)

    prefill_linear = [_r(total(handle.evaluate_context_ops(ctx_rest, batch_size=1, s=t))) for t in TOKENS]
    decode_linear = [_r(total(handle.evaluate_generation_ops(gen_rest, batch_size=t, s=1024))) for t in TOKENS]
    decode_attn = [[_r(total(handle.evaluate_generation_ops(gen_attn, batch_size=b, s=c))) for c in DECODE_CONTEXT]
                   for b in DECODE_BATCH]
    # aiconfigurator's context ops take s = new tokens per sequence and prefix = tokens already cached
    prefill_attn = [[_r(total(handle.evaluate_context_ops(ctx_attn, batch_size=k, s=s))) for s in PREFILL_SEQ]
                    for k in PREFILL_BATCH]
    prefix_attn = []
    for s, fresh in zip(PREFILL_SEQ, prefill_attn[0]):
        prefix_attn.append([_r(max(total(handle.evaluate_context_ops(ctx_attn, batch_size=1, s=s, prefix=c))
                                   - fresh, MIN_EXTRA_MS)) for c in PREFIX_CACHED])
    return {"schema": SCHEMA, "tokens": TOKENS, "prefill_linear_ms": prefill_linear,
            "decode_linear_ms": decode_linear,
            "decode_attn": {"batch": DECODE_BATCH, "context": DECODE_CONTEXT, "ms": decode_attn},
            "prefill_attn": {"batch": PREFILL_BATCH, "seq": PREFILL_SEQ, "ms": prefill_attn},
            "prefix_attn": {"seq": PREFILL_SEQ, "cached": PREFIX_CACHED, "ms": prefix_attn},
            "memory": _memory(model, db, backend)}


def _memory(model, db, backend) -> dict:
    gib = 1 << 30
    big = 1 << 16
    usage = backend._get_memory_usage(model, db, 1, 1, 2, 1, num_tokens=big, mtp_scaled_tokens=0)
    return {
        "weight_bytes": int(usage["weights"] * gib),
        "kv_bytes_per_token": int(round(model.get_kvcache_bytes_per_sequence(1024) / 1024)),
        "activation_bytes_per_token": round(usage["activations"] * gib / big, 1),
        "activation_min_bytes": int(getattr(backend, "MIN_ACTIVATION_BYTES", 0)),
        "nccl_bytes": int(usage["nccl"] * gib),
        "other_bytes": int(usage["others"] * gib),
    }


def provenance(engine_versions: dict[str, str] | None = None) -> dict:
    return {"source": "aiconfigurator", "versions": versions(), "database": "SILICON",
            "engine_versions": engine_versions or {},
            "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
            "grid": {"tokens": TOKENS, "decode_batch": DECODE_BATCH, "decode_context": DECODE_CONTEXT,
                     "prefill_batch": PREFILL_BATCH, "prefill_seq": PREFILL_SEQ, "prefix_cached": PREFIX_CACHED}}


def cached_table(model_id: str, gpu: str, engine: str, tp: int, kv_dtype: str, quant: str,
                 spec: ModelSpec | None = None) -> dict:
    """``build_table``, remembered on disk (``$AUTOTUNER_AIC_CACHE`` or ``~/.cache/autotuner/aic``)."""
    ident = json.dumps([model_id, gpu, engine, tp, kv_dtype, quant, versions(), SCHEMA])
    path = cache_dir() / "tables" / f"{hashlib.sha1(ident.encode()).hexdigest()[:20]}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    table = build_table(model_id, gpu, engine, tp, kv_dtype, quant, spec)
    table["provenance"] = provenance({engine: table["key"]["engine_version"]})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(table, separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only home: the table still serves this process
    return table
