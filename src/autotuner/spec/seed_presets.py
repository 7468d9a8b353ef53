"""Names that seed-format task files use, and what they mean in our vocabulary.

The seed project (novitalabs/inference-autotuner) names OME objects instead of engines and models,
and has quantization and parallelism presets of its own. The tables below are facts about those
names (from OME's sample manifests and the seed project's documented presets), kept as data; the
functions turn them into our engine flags.
"""

from __future__ import annotations

from typing import Any

from .errors import SpecError

ENGINE_WORDS = {"sglang": "sglang", "srt": "sglang", "vllm": "vllm", "llamacpp": "llamacpp",
                "llama.cpp": "llamacpp", "llama-cpp": "llamacpp"}

# ClusterServingRuntime name -> engine: OME's sample runtimes and the seed project's runtime presets.
RUNTIME_PRESETS = {
    "srt-llama-3-2-1b-instruct": "sglang",
    "srt-llama-3-1-8b-instruct": "sglang",
    "srt-qwen3-8b": "sglang",
    "vllm-llama-3-2-1b-instruct": "vllm",
    # OME's older sample (srt/meta/llama-3-2-1b-instruct-rt.yaml), which the seed project's docs use
    "llama-3-2-1b-instruct-rt": "sglang",
    "sglang-llama-small": "sglang",
    "sglang-llama-large": "sglang",
    "sglang-mixtral-moe": "sglang",
    "vllm-llama-small": "vllm",
    "vllm-llama-large": "vllm",
}

# ClusterBaseModel name -> Hugging Face model id (the storageUri of OME samples and seed presets).
MODEL_PRESETS = {
    "llama-3-2-1b-instruct": "meta-llama/Llama-3.2-1B-Instruct",
    "llama-3-2-3b-instruct": "meta-llama/Llama-3.2-3B-Instruct",
    "llama-3-1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "llama-3-1-70b-instruct": "meta-llama/Llama-3.1-70B-Instruct",
    "llama-3-3-70b-instruct": "meta-llama/Llama-3.3-70B-Instruct",
    "mistral-7b-instruct": "mistralai/Mistral-7B-Instruct-v0.3",
    "mixtral-8x7b-instruct": "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "deepseek-v3": "deepseek-ai/DeepSeek-V3",
    "qwen3-8b": "Qwen/Qwen3-8B",
}

# Quantization presets: the four dtype fields of the seed format.
QUANT_FIELDS = ("gemm_dtype", "kvcache_dtype", "attention_dtype", "moe_dtype")
QUANT_PRESETS = {
    "default": {"gemm_dtype": "auto", "kvcache_dtype": "auto", "attention_dtype": "auto", "moe_dtype": "auto"},
    "kv-cache-fp8": {"gemm_dtype": "auto", "kvcache_dtype": "fp8_e5m2", "attention_dtype": "auto",
                     "moe_dtype": "auto"},
    "dynamic-fp8": {"gemm_dtype": "fp8", "kvcache_dtype": "fp8_e5m2", "attention_dtype": "fp8",
                    "moe_dtype": "fp8"},
    "bf16-stable": {"gemm_dtype": "bfloat16", "kvcache_dtype": "fp8_e5m2", "attention_dtype": "auto",
                    "moe_dtype": "auto"},
    "aggressive-moe": {"gemm_dtype": "bfloat16", "kvcache_dtype": "fp8_e5m2", "attention_dtype": "fp8",
                       "moe_dtype": "w4afp8"},
}

# Parallel presets (the same for SGLang and vLLM): axis -> size.
PARALLEL_PRESETS = {
    "single-gpu": {"tp": 1, "pp": 1, "dp": 1},
    "high-throughput": {"tp": 1, "pp": 1, "dp": 8},
    "large-model-tp": {"tp": 8, "pp": 1, "dp": 1},
    "large-model-tp-pp": {"tp": 8, "pp": 2, "dp": 1},
    "balanced": {"tp": 2, "pp": 1, "dp": 4},
    "moe-optimized": {"tp": 2, "pp": 1, "dp": 8},
}

# Parallel axis of the seed format -> our flag, per engine.
PARALLEL_FLAGS = {
    "sglang": {"tp": "tp-size", "pp": "pp-size", "dp": "dp-size", "ep": "ep-size",
               "moe_dense_tp": "moe-dense-tp-size"},
    "vllm": {"tp": "tensor-parallel-size", "pp": "pipeline-parallel-size", "dp": "data-parallel-size",
             "dcp": "decode-context-parallel-size", "enable_expert_parallel": "enable-expert-parallel"},
}

# Seed parameter names (the OME templates' short names) -> our flag, per engine.
PARAMETER_ALIASES = {
    "sglang": {"mem_frac": "mem-fraction-static", "tpsize": "tp-size"},
    "vllm": {"mem_frac": "gpu-memory-utilization", "tp_size": "tensor-parallel-size",
             "tp-size": "tensor-parallel-size", "tpsize": "tensor-parallel-size"},
}

_GEMM = {"auto": {}, "fp8": {"quantization": "fp8"}, "bfloat16": {"dtype": "bfloat16"},
         "float16": {"dtype": "float16"}, "float32": {"dtype": "float32"}}
_GEMM_INT8 = {"sglang": {"quantization": "w8a8_int8"}}
_KV = {"sglang": {"auto": "auto", "fp8": "fp8_e4m3", "fp8_e4m3": "fp8_e4m3", "fp8_e5m2": "fp8_e5m2"},
       "vllm": {"auto": "auto", "fp8": "fp8", "fp8_e4m3": "fp8_e4m3", "fp8_e5m2": "fp8_e5m2"}}


def _choices(values: Any) -> str:
    return ", ".join(sorted(values))


def engine_word(name: str) -> str | None:
    """The engine a runtime's own name says it runs (``sglang-...``, ``vllm-...``, ``srt-...``)."""
    for word in name.lower().replace("_", "-").split("-"):
        if word in ENGINE_WORDS:
            return ENGINE_WORDS[word]
    return None


def expand_quant(quant: dict[str, Any], engine: str) -> list[tuple[str, dict[str, str]]]:
    """``quant_config`` -> [(label, the four dtype fields)], one per preset it names.

    Raises SpecError naming the allowed presets and fields."""
    if "presets" in quant or "preset" in quant:
        names = quant.get("presets", quant.get("preset"))
        names = names if isinstance(names, list) else [names]
        unknown = [n for n in names if n not in QUANT_PRESETS]
        if unknown or not names:
            raise SpecError([f"quant_config.preset(s): unknown preset {', '.join(map(repr, unknown)) or '(none)'}; "
                             f"allowed: {_choices(QUANT_PRESETS)}"])
        return [(n, QUANT_PRESETS[n]) for n in names]
    extra = set(quant) - set(QUANT_FIELDS)
    if extra:
        raise SpecError([f"quant_config.{sorted(extra)[0]}: unknown field; allowed: preset, presets, "
                         f"{', '.join(QUANT_FIELDS)}"])
    return [("custom", {f: str(quant.get(f, "auto")) for f in QUANT_FIELDS})]


def quant_flags(fields: dict[str, str], engine: str, notes: list[str], where: str) -> dict[str, Any]:
    """The four dtype fields -> engine flags (``--quantization``, ``--dtype``, ``--kv-cache-dtype``)."""
    flags: dict[str, Any] = {}
    gemm = fields["gemm_dtype"]
    gemm_flags = _GEMM_INT8.get(engine) if gemm == "int8" else _GEMM.get(gemm)
    if gemm_flags is None:
        raise SpecError([f"{where}.gemm_dtype: {gemm!r} has no {engine} equivalent; allowed: "
                         f"{_choices(list(_GEMM) + (['int8'] if engine in _GEMM_INT8 else []))}"])
    flags.update(gemm_flags)
    kv = fields["kvcache_dtype"]
    kv_map = _KV.get(engine, {})
    if kv not in kv_map:
        raise SpecError([f"{where}.kvcache_dtype: {kv!r} has no {engine} equivalent; allowed: {_choices(kv_map)}"])
    if kv_map[kv] != "auto":
        flags["kv-cache-dtype"] = kv_map[kv]
    if fields["attention_dtype"] not in ("auto", kv, kv_map[kv]):
        notes.append(f"{where}.attention_dtype {fields['attention_dtype']!r}: no flag of its own in {engine}; "
                     f"attention runs in the KV cache's dtype ({kv_map[kv]})")
    if fields["moe_dtype"] not in ("auto", gemm):
        notes.append(f"{where}.moe_dtype {fields['moe_dtype']!r} is not applied: it concerns MoE experts "
                     f"only, and --quantization already sets the weights' format")
    return flags


def expand_parallel(parallel: dict[str, Any], engine: str) -> dict[str, Any]:
    """``parallel_config`` -> {our flag: a value or a list of values}."""
    config = dict(parallel)
    if "preset" in config:
        name = config.pop("preset")
        if name not in PARALLEL_PRESETS:
            raise SpecError([f"parallel_config.preset: unknown preset {name!r}; allowed: {_choices(PARALLEL_PRESETS)}"])
        config = {**PARALLEL_PRESETS[name], **config}
    flags = PARALLEL_FLAGS.get(engine)
    if flags is None:
        raise SpecError([f"parallel_config: engine {engine!r} has no parallel flags; "
                         f"allowed engines: {_choices(PARALLEL_FLAGS)}"])
    out: dict[str, Any] = {}
    for axis, value in config.items():
        if axis not in flags:
            raise SpecError([f"parallel_config.{axis}: unknown for {engine}; allowed: preset, {_choices(flags)}"])
        out[flags[axis]] = value
    return out
