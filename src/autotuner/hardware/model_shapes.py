"""Shapes of the large MoE models served in 2026, written from their published ``config.json`` values.

Only what the twin needs: layers, widths, heads, experts (routed, per token, shared), the attention
kind (GQA, MLA's latent, hybrid linear/full layers, sliding windows) and the checkpoint's dtype.
Approximations, said once: Qwen3.5's linear-attention (Gated DeltaNet) layers are counted with the
parameter count of its full-attention layers (they are within a few percent); vision towers of
multimodal checkpoints are left out (they do not run for text requests).
"""

from __future__ import annotations

from .model_spec import ModelSpec


def _mla(name: str, arch: str, layers: int, hidden: int, heads: int, inter: int, vocab: int, ctx: int, experts: int,
         top_k: int, moe_inter: int, first_dense: int, q_lora: int, nope: int, v_dim: int, dtype_bytes: int
         ) -> ModelSpec:
    return ModelSpec(name, arch, layers, hidden, heads, heads, v_dim, inter, vocab, ctx, num_experts=experts,
                     experts_per_token=top_k, moe_intermediate=moe_inter, dtype_bytes=dtype_bytes,
                     first_dense_layers=first_dense, shared_experts=1, shared_intermediate=moe_inter,
                     kv_lora_rank=512, q_lora_rank=q_lora, qk_rope_head_dim=64, qk_nope_head_dim=nope, v_head_dim=v_dim)


MOE_MODELS: tuple[ModelSpec, ...] = (
    _mla("deepseek-ai/DeepSeek-V3", "DeepseekV3ForCausalLM", 61, 7168, 128, 18432, 129280, 163840, 256, 8, 2048,
         3, 1536, 128, 128, dtype_bytes=1),
    _mla("deepseek-ai/DeepSeek-R1", "DeepseekV3ForCausalLM", 61, 7168, 128, 18432, 129280, 163840, 256, 8, 2048,
         3, 1536, 128, 128, dtype_bytes=1),
    _mla("moonshotai/Kimi-K2.5", "DeepseekV3ForCausalLM", 61, 7168, 64, 18432, 163840, 262144, 384, 8, 2048,
         1, 1536, 128, 128, dtype_bytes=2),
    _mla("zai-org/GLM-5", "GlmMoeDsaForCausalLM", 78, 6144, 64, 12288, 154880, 202752, 256, 8, 2048,
         3, 2048, 192, 256, dtype_bytes=2),
    ModelSpec("MiniMaxAI/MiniMax-M2.5", "MiniMaxM2ForCausalLM", 62, 3072, 48, 8, 128, 1536, 200064, 196608,
              num_experts=256, experts_per_token=8, moe_intermediate=1536, dtype_bytes=1),
    ModelSpec("openai/gpt-oss-120b", "GptOssForCausalLM", 36, 2880, 64, 8, 64, 2880, 201088, 131072,
              num_experts=128, experts_per_token=4, moe_intermediate=2880, sliding_window=128, sliding_layers=18),
    ModelSpec("Qwen/Qwen3-235B-A22B", "Qwen3MoeForCausalLM", 94, 4096, 64, 4, 128, 12288, 151936, 40960,
              num_experts=128, experts_per_token=8, moe_intermediate=1536),
    ModelSpec("Qwen/Qwen3.5-397B-A17B", "Qwen3_5MoeForConditionalGeneration", 60, 4096, 32, 2, 256, 10240, 248320,
              262144, num_experts=512, experts_per_token=10, moe_intermediate=1024, shared_experts=1,
              shared_intermediate=1024, full_attention_interval=4),
)

# Other names the same checkpoints are published under.
MODEL_ALIASES = {"zhipuai/glm-5": "zai-org/GLM-5", "thudm/glm-5": "zai-org/GLM-5",
                 "deepseek-ai/deepseek-v3.1": "deepseek-ai/DeepSeek-V3",  # V3.1 keeps V3's shape
                 "nvidia/deepseek-v3.1-nvfp4": "deepseek-ai/DeepSeek-V3"}
