"""Model shapes: a built-in table keyed by Hugging Face id, or a local directory's ``config.json``.

Only the architecture matters to the simulator (no weights are read): layer count and widths give
the parameter count, the FLOPs per token, the weight bytes and the KV-cache bytes per token.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from .model_spec import ModelSpec


def _dense(name, arch, layers, hidden, heads, kv, head_dim, inter, vocab, ctx, tie=False) -> ModelSpec:
    return ModelSpec(name, arch, layers, hidden, heads, kv, head_dim, inter, vocab, ctx, tie)


BUILTIN: dict[str, ModelSpec] = {m.name.lower(): m for m in (
    _dense("meta-llama/Llama-3.2-1B", "LlamaForCausalLM", 16, 2048, 32, 8, 64, 8192, 128256, 131072, tie=True),
    _dense("meta-llama/Llama-3.2-3B", "LlamaForCausalLM", 28, 3072, 24, 8, 128, 8192, 128256, 131072, tie=True),
    _dense("meta-llama/Llama-3.1-8B", "LlamaForCausalLM", 32, 4096, 32, 8, 128, 14336, 128256, 131072),
    _dense("meta-llama/Llama-3.1-70B", "LlamaForCausalLM", 80, 8192, 64, 8, 128, 28672, 128256, 131072),
    _dense("Qwen/Qwen3-0.6B", "Qwen3ForCausalLM", 28, 1024, 16, 8, 128, 3072, 151936, 40960, tie=True),
    _dense("Qwen/Qwen3-8B", "Qwen3ForCausalLM", 36, 4096, 32, 8, 128, 12288, 151936, 40960),
    _dense("Qwen/Qwen3-32B", "Qwen3ForCausalLM", 64, 5120, 64, 8, 128, 25600, 151936, 40960),
    _dense("Qwen/Qwen2.5-7B", "Qwen2ForCausalLM", 28, 3584, 28, 4, 128, 18944, 152064, 32768),
    ModelSpec("Qwen/Qwen3-30B-A3B", "Qwen3MoeForCausalLM", 48, 2048, 32, 4, 128, 6144, 151936, 40960,
              num_experts=128, experts_per_token=8, moe_intermediate=768),
)}


# The large MoE models live in their own module (it imports ModelSpec from here, hence at this point).
from .model_shapes import MODEL_ALIASES, MOE_MODELS  # noqa: E402  (the shapes of 2026's MoE models)

BUILTIN.update({m.name.lower(): m for m in MOE_MODELS})


def known_models() -> list[str]:
    return [m.name for m in BUILTIN.values()]


def _strip_variant(name: str) -> str:
    """``Llama-3.1-8B-Instruct`` and ``Qwen3-8B-FP8`` have the base model's shape."""
    for suffix in ("-instruct", "-chat", "-base", "-fp8", "-nvfp4", "-awq", "-gptq-int4", "-gptq", "-it"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def builtin_model(model_id: str) -> ModelSpec | None:
    key = model_id.strip().rstrip("/").lower()
    key = MODEL_ALIASES.get(key, key).lower()
    by_last = {k.rsplit("/", 1)[-1]: m for k, m in BUILTIN.items()}
    for candidate in (key, _strip_variant(key)):
        if candidate in BUILTIN:
            return BUILTIN[candidate]
        last = candidate.rsplit("/", 1)[-1]
        for name in (last, _strip_variant(last), _strip_variant(_strip_variant(last))):
            if name in by_last:
                return by_last[name]
    return None


def load_model(model_path: str) -> ModelSpec:
    """The shape of ``model_path``: a local directory's ``config.json`` when it exists, else a built-in.

    Raises ``ValueError`` naming the known model ids when neither applies.
    """
    path = Path(model_path).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return model_from_config(path / "config.json", name=model_path)
    found = builtin_model(model_path)
    if found is None:
        where = f" ({path} has no config.json)" if path.is_dir() else ""
        raise ValueError(f"unknown model {model_path!r}{where}; the simulated engine knows: "
                         f"{', '.join(known_models())}, or a local directory with a Hugging Face config.json")
    return replace(found, name=model_path)


_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float8_e4m3fn": 1}


def model_from_config(config_path: Path, name: str) -> ModelSpec:
    try:
        raw = json.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{config_path}: cannot read the model config: {e}") from e
    cfg = raw.get("text_config") or raw  # multimodal checkpoints nest the language model's config

    def need(*keys: str) -> int:
        for key in keys:
            if cfg.get(key) is not None:
                return int(cfg[key])
        raise ValueError(f"{config_path}: missing {' or '.join(keys)}")

    hidden, heads = need("hidden_size", "n_embd", "d_model"), need("num_attention_heads", "n_head")
    experts = int(cfg.get("num_experts") or cfg.get("num_local_experts") or cfg.get("n_routed_experts") or 0)
    arch = (raw.get("architectures") or ["CausalLM"])[0]
    return ModelSpec(
        name=name, architecture=arch,
        layers=need("num_hidden_layers", "n_layer", "num_layers"),
        hidden=hidden, heads=heads,
        kv_heads=int(cfg.get("num_key_value_heads") or heads),
        head_dim=int(cfg.get("head_dim") or hidden // heads),
        intermediate=int(cfg.get("intermediate_size") or 4 * hidden),
        vocab=need("vocab_size"),
        max_context=int(cfg.get("max_position_embeddings") or cfg.get("max_sequence_length") or 4096),
        tie_embeddings=bool(cfg.get("tie_word_embeddings", raw.get("tie_word_embeddings", False))),
        num_experts=experts,
        experts_per_token=int(cfg.get("num_experts_per_tok") or (2 if experts else 0)),
        moe_intermediate=int(cfg.get("moe_intermediate_size") or cfg.get("intermediate_size") or 0) if experts else 0,
        dtype_bytes=_DTYPE_BYTES.get(str(cfg.get("torch_dtype") or raw.get("torch_dtype") or "bfloat16"), 2),
    )
