"""A model's architecture as the twin needs it: layer count and widths give the parameter count, the
FLOPs per token, the weight bytes and the KV-cache bytes per token (``hardware.models`` finds one)."""

from __future__ import annotations

from dataclasses import dataclass


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
