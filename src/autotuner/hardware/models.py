"""Model shapes: a built-in table keyed by Hugging Face id, or a local directory's ``config.json``.

Only the architecture matters to the simulator (no weights are read): layer count and widths give
the parameter count, the FLOPs per token, the weight bytes and the KV-cache bytes per token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class ModelSpec:
    name: str
    architecture: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int  # dense MLP width (unused by MoE layers)
    vocab: int
    max_context: int
    tie_embeddings: bool = False
    num_experts: int = 0  # 0: dense model
    experts_per_token: int = 0
    moe_intermediate: int = 0
    dtype_bytes: int = 2  # the checkpoint's dtype (bf16/fp16: 2)
    # MoE details: the first layers may be dense (DeepSeek's first_k_dense_replace); shared experts run
    # for every token beside the routed ones.
    first_dense_layers: int = 0
    shared_experts: int = 0
    shared_intermediate: int = 0
    # Multi-head latent attention (DeepSeek, Kimi, GLM-5): the KV cache holds one compressed latent of
    # kv_lora_rank + qk_rope_head_dim per token and layer, shared by all heads (so not split by TP).
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim: int = 0
    # Hybrid models (Qwen3.5: 3 linear-attention layers per full one) keep KV only in full layers;
    # sliding-window layers (gpt-oss: every other one) keep at most ``sliding_window`` tokens.
    full_attention_interval: int = 1
    sliding_window: int = 0
    sliding_layers: int = 0

    @property
    def num_attention_heads(self) -> int:
        return self.heads

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def attention_params_per_layer(self) -> int:
        h, n = self.hidden, self.heads
        if self.is_mla:
            qk = self.qk_nope_head_dim + self.qk_rope_head_dim
            q = h * self.q_lora_rank + self.q_lora_rank * n * qk if self.q_lora_rank else h * n * qk
            kv = h * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank * n * (
                self.qk_nope_head_dim + self.v_head_dim)
            return q + kv + n * self.v_head_dim * h
        q_and_o = 2 * h * n * self.head_dim
        return q_and_o + 2 * h * self.kv_heads * self.head_dim

    @property
    def moe_layers(self) -> int:
        return self.layers - self.first_dense_layers if self.is_moe else 0

    @property
    def expert_params(self) -> int:
        """Parameters in all routed experts of all layers (0 for a dense model)."""
        return self.moe_layers * self.num_experts * 3 * self.hidden * self.moe_intermediate

    @property
    def always_params(self) -> int:
        """Layer parameters every token goes through: attention, dense MLPs, routers, shared experts."""
        dense_mlp = (self.layers - self.moe_layers) * 3 * self.hidden * self.intermediate
        moe_fixed = self.moe_layers * (self.hidden * self.num_experts
                                       + self.shared_experts * 3 * self.hidden * self.shared_intermediate)
        return self.layers * self.attention_params_per_layer + dense_mlp + moe_fixed

    @property
    def dense_layer_params(self) -> int:
        """Per-layer average of ``always_params``."""
        return self.always_params // self.layers

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def params(self) -> int:
        """Total parameters, as a checkpoint stores them."""
        head = 0 if self.tie_embeddings else self.embedding_params
        return self.always_params + self.expert_params + self.embedding_params + head

    @property
    def active_layer_params(self) -> int:
        """Transformer-layer parameters one token is multiplied through (MoE: only its routed experts)."""
        routed = self.moe_layers * self.experts_per_token * 3 * self.hidden * self.moe_intermediate
        return self.always_params + routed

    @property
    def active_params(self) -> int:
        return self.active_layer_params + self.embedding_params * (1 if self.tie_embeddings else 2)

    @property
    def kv_layers(self) -> int:
        """Layers with a per-token KV cache over the whole context."""
        full = self.layers // max(1, self.full_attention_interval)
        return full - self.sliding_layers

    def kv_values_per_token_layer(self, tp: int = 1) -> float:
        """KV values one token keeps in one layer on one of ``tp`` GPUs (MLA's latent is not split)."""
        if self.is_mla:
            return float(self.kv_lora_rank + self.qk_rope_head_dim)
        return 2.0 * max(1, -(-self.kv_heads // tp)) * self.head_dim

    def attention_flops_per_pair_layer(self) -> float:
        """FLOPs of one query-key pair in one layer (all heads): QK^T and the weighted sum of values."""
        if self.is_mla:  # absorbed: queries meet the latent directly
            return 2.0 * self.heads * (2 * self.kv_lora_rank + self.qk_rope_head_dim)
        return 4.0 * self.heads * self.head_dim


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
from .model_shapes import MODEL_ALIASES, MOE_MODELS  # noqa: E402

BUILTIN.update({m.name.lower(): m for m in MOE_MODELS})


def known_models() -> list[str]:
    return [m.name for m in BUILTIN.values()]


def _strip_variant(name: str) -> str:
    """``Llama-3.1-8B-Instruct`` and ``Qwen3-8B-FP8`` have the base model's shape."""
    for suffix in ("-instruct", "-chat", "-base", "-fp8", "-awq", "-gptq-int4", "-gptq", "-it"):
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
