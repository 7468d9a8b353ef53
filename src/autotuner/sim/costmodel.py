"""How long one engine iteration takes, and how much memory the model needs: ``CostModel``.

An iteration (a "step") runs some prefill tokens (whole prompts or chunks of them, each on top of
the tokens already in that sequence's KV cache) and a decode batch (one new token for each running
sequence). ``CostModel`` is the replaceable part: the scheduler only calls ``step_time`` and the
memory figures, so a table of measured step times can stand in for ``RooflineCostModel``.

``RooflineCostModel(model, gpu, tp, pp, quantization, kv_dtype, ...)`` estimates, per GPU:

* linear layers: ``max(FLOPs / (peak * 0.6 * tokens / (tokens + 192)), weight bytes / (HBM bandwidth * 0.8))``
  with ``FLOPs = 2 * tokens * active params / tp`` (plus the LM head for each sampled row); a MoE model
  multiplies through its routed experts only, and reads the experts a batch touches
  (``1 - (1 - k/E)^tokens`` of them), while its memory holds all of them;
* attention: ``max(4 * heads * head_dim * query-key pairs / tp / (peak * 0.5), KV bytes read / (bandwidth * 0.8))``;
* tensor parallelism: 2 all-reduces per layer, each ``latency + tokens * hidden * 2 B * 2 (tp-1)/tp /
  link bandwidth``; pipeline parallelism: one hand-off per stage boundary (the stages of one step run one
  after the other, so PP adds memory, not speed);
* a fixed per-step overhead (scheduling, sampling; more with prefill) plus a little per sequence; without CUDA graphs
  (disabled, eager, or a batch above the captured sizes) a kernel-launch overhead per layer.

Quantization: FP8 (and INT8 W8A8) halves weight bytes and uses the FP8 peak when the GPU has one;
4-bit weight-only formats (AWQ, GPTQ, ...) read a quarter of BF16's bytes but dequantize into BF16
GEMMs (slower prefill). An FP8 KV cache halves KV bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..hardware.gpus import GIB, GPU
from ..hardware.models import ModelSpec
from .calibration import Calibration

COMPUTE_EFFICIENCY = 0.6  # large GEMMs reach ~60% of the datasheet peak...
GEMM_HALF_EFFICIENCY_TOKENS = 192  # ...and half of that at this many rows (small GEMMs use the GPU poorly)
PREFILL_STEP_OVERHEAD_S = 0.5e-3  # attention metadata and batch preparation of a step with prefill
ATTENTION_EFFICIENCY = 0.5
MEMORY_EFFICIENCY = 0.8
STEP_OVERHEAD_S = 0.45e-3
PER_SEQUENCE_OVERHEAD_S = 15e-6
EAGER_LAUNCH_PER_LAYER_S = 40e-6
RUNTIME_OVERHEAD_BYTES = int(1.5 * GIB)  # CUDA context, allocator slack, NCCL buffers
ACTIVATION_FACTOR = 1.5  # temporaries beyond the main tensors (upcasts, fused-kernel workspaces)

# quantization -> (weight bytes per parameter, uses the low-precision tensor-core peak, GEMM slowdown)
WEIGHT_FORMATS: dict[str | None, tuple[float, bool, float]] = {
    None: (2.0, False, 1.0),
    "fp8": (1.0, True, 1.0), "w8a8_fp8": (1.0, True, 1.0), "w8a8_int8": (1.0, True, 1.0),
    "modelopt": (1.0, True, 1.0), "compressed-tensors": (1.0, True, 1.0),
    "awq": (0.53, False, 0.8), "gptq": (0.53, False, 0.8), "awq_marlin": (0.53, False, 0.9),
    "gptq_marlin": (0.53, False, 0.9), "marlin": (0.53, False, 0.9), "gguf": (0.56, False, 0.7),
    "bitsandbytes": (0.53, False, 0.45),
    # 4-bit floating point with a scale per 16 (NVFP4) or 32 (MXFP4) values; FP4 tensor cores on Blackwell
    "modelopt_fp4": (0.5625, True, 1.0), "mxfp4": (0.53125, True, 1.0),
}
FP4_FORMATS = ("modelopt_fp4", "mxfp4")


@dataclass(frozen=True)
class StepWork:
    """What one iteration computes.

    ``prefill_chunks``: one ``(new_tokens, tokens_already_cached)`` per sequence being prefilled.
    ``decode_batch`` sequences each add one token on top of ``decode_context_tokens`` (their summed lengths).
    ``graph``: whether the step can replay a captured CUDA graph.
    """

    prefill_chunks: tuple[tuple[int, int], ...] = ()
    decode_batch: int = 0
    decode_context_tokens: int = 0
    graph: bool = False

    @property
    def prefill_tokens(self) -> int:
        return sum(n for n, _ in self.prefill_chunks)

    @property
    def tokens(self) -> int:
        return self.prefill_tokens + self.decode_batch


@runtime_checkable
class CostModel(Protocol):
    """Step times and memory figures for one model on one kind of GPU with one parallel layout."""

    def step_time(self, work: StepWork) -> float:
        """Seconds one iteration takes."""

    def weight_bytes_per_gpu(self) -> int: ...

    def kv_bytes_per_token_per_gpu(self) -> int: ...

    def activation_bytes(self, max_tokens_per_step: int) -> int:
        """Peak activation memory of a step of that many tokens, per GPU."""

    def cuda_graph_bytes(self, max_bs: int) -> int:
        """Memory the captured CUDA graphs keep, for batch sizes up to ``max_bs``."""


@dataclass
class RooflineCostModel:
    model: ModelSpec
    gpu: GPU
    tp: int = 1
    pp: int = 1
    quantization: str | None = None
    kv_dtype: str = "auto"
    dtype: str = "auto"
    step_overhead_s: float = STEP_OVERHEAD_S
    compile_speedup: float = 1.0  # torch.compile: <1 shortens small decode batches
    calibration: Calibration | None = None  # None: the hand-set constants of this module
    # Layout beyond plain TP: ``moe_gpus`` GPUs share the experts (0: the tp x pp GPUs), by expert
    # parallelism when ``ep`` > 1; ``sync_ranks`` data-parallel ranks run their MoE layers together
    # (each step's experts see every rank's tokens).
    moe_gpus: int = 0
    ep: int = 1
    sync_ranks: int = 1
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.quantization not in WEIGHT_FORMATS:
            raise ValueError(f"quantization {self.quantization!r} is not one of "
                             f"{', '.join(str(q) for q in WEIGHT_FORMATS if q)}")
        m = self.model
        bytes_per_param, low_precision, gemm_speed = WEIGHT_FORMATS[self.quantization]
        act_bytes = 4 if self.dtype in ("float", "float32") else 2
        if self.quantization is None:
            bytes_per_param = float(act_bytes if self.dtype != "auto" else m.dtype_bytes)
        self.act_bytes = act_bytes
        self.weight_param_bytes = bytes_per_param
        cal = self.calibration or Calibration(
            compute_efficiency=COMPUTE_EFFICIENCY, memory_efficiency=MEMORY_EFFICIENCY,
            attention_efficiency=ATTENTION_EFFICIENCY, step_overhead_s=self.step_overhead_s,
            per_sequence_s=PER_SEQUENCE_OVERHEAD_S, prefill_step_s=PREFILL_STEP_OVERHEAD_S)
        self.cal = cal
        fp4 = self.quantization in FP4_FORMATS
        self.peak = self.gpu.peak_flops(low_precision, fp4) * gemm_speed * (0.5 if act_bytes == 4 else 1.0)
        self.attention_peak = self.gpu.peak_flops(False) * cal.attention_efficiency
        self.kv_elem_bytes = 1 if self.kv_dtype.startswith("fp8") else act_bytes
        self.kv_heads_per_gpu = max(1, -(-m.kv_heads // self.tp))  # heads are replicated when tp > kv heads
        self.hbm = self.gpu.hbm_gbps * 1e9 * cal.memory_efficiency
        self.link = self.gpu.link_gbps * 1e9
        split = self.tp * self.pp
        self.moe_split = (self.moe_gpus or self.tp) * self.pp
        # Read every step: the layers and the LM head (not the input embedding, which is a lookup).
        dense_bytes = (m.always_params + m.embedding_params) * bytes_per_param
        self._dense_read = dense_bytes / split
        self._expert_read = m.expert_params * bytes_per_param / self.moe_split
        routed = m.active_layer_params - m.always_params
        self._linear_flops_per_token = 2 * m.always_params / self.tp
        self._expert_flops_per_token = 2 * routed / (self.moe_split / self.pp) / cal.moe_efficiency
        self._head_flops_per_row = 2 * m.embedding_params / self.tp
        self._attn_flops_per_pair = m.attention_flops_per_pair_layer() * m.kv_layers / self.tp
        if m.is_mla:  # the latent is read whole by every attention rank
            self._kv_full_bytes = m.kv_layers * m.kv_values_per_token_layer() * self.kv_elem_bytes
        else:
            self._kv_full_bytes = 2 * m.kv_layers * m.kv_heads * m.head_dim * self.kv_elem_bytes / self.tp
        self._window_bytes = (2 * m.sliding_layers * m.kv_heads * m.head_dim * self.kv_elem_bytes / self.tp
                              if m.sliding_window else 0.0)

    # -- memory ---------------------------------------------------------------------------------------
    def weight_bytes_per_gpu(self) -> int:
        m = self.model
        experts = m.expert_params * self.weight_param_bytes / self.moe_split
        return int((m.params - m.expert_params) * self.weight_param_bytes / (self.tp * self.pp) + experts)

    def kv_bytes_per_token_per_gpu(self) -> int:
        m = self.model
        layers = -(-m.kv_layers // self.pp)
        return int(layers * m.kv_values_per_token_layer(self.tp) * self.kv_elem_bytes)

    def activation_bytes(self, max_tokens_per_step: int) -> int:
        m = self.model
        width = m.moe_intermediate * m.experts_per_token if m.is_moe else m.intermediate
        qkv = (m.heads + 2 * m.kv_heads) * m.head_dim
        per_token = (4 * m.hidden + (2 * width + qkv) / self.tp) * self.act_bytes * ACTIVATION_FACTOR
        return int(max_tokens_per_step * per_token)

    def cuda_graph_bytes(self, max_bs: int) -> int:
        m = self.model
        per_row = self.activation_bytes(1) + m.vocab * 4 // self.tp  # activations and FP32 logits
        return int(0.25 * GIB + 2 * max_bs * per_row)

    # -- time -----------------------------------------------------------------------------------------
    def step_time(self, work: StepWork) -> float:
        tokens = work.tokens
        if tokens == 0:
            return 0.0
        m, cal = self.model, self.cal
        rows = len(work.prefill_chunks) + work.decode_batch  # rows sampled: one per sequence
        moe_tokens = tokens * self.sync_ranks  # the experts see every synchronized rank's tokens
        weight_read = self._dense_read + self._expert_read * self._experts_touched(moe_tokens)
        peak_share = cal.compute_efficiency * (cal.prefill_efficiency if work.prefill_chunks else 1.0)
        efficiency = peak_share * tokens / (tokens + GEMM_HALF_EFFICIENCY_TOKENS)
        linear_flops = tokens * self._linear_flops_per_token + rows * self._head_flops_per_row
        if m.is_moe:
            moe_eff = peak_share * moe_tokens / (moe_tokens + GEMM_HALF_EFFICIENCY_TOKENS)
            compute = linear_flops / (self.peak * efficiency) + moe_tokens * self._expert_flops_per_token / (
                self.peak * moe_eff)
        else:
            compute = (linear_flops + tokens * self._expert_flops_per_token) / (self.peak * efficiency)
        linear = max(compute, weight_read / self.hbm)

        pairs = work.decode_context_tokens
        kv_tokens_read = work.decode_context_tokens
        for new, cached in work.prefill_chunks:
            pairs += new * cached + new * (new + 1) // 2
            kv_tokens_read += cached + new
        attention = max(pairs * self._attn_flops_per_pair / self.attention_peak,
                        kv_tokens_read * self._kv_full_bytes / self.hbm)
        if self._window_bytes:
            window = min(work.decode_context_tokens, work.decode_batch * m.sliding_window)
            attention += window * self._window_bytes / self.hbm

        comm = 0.0
        if self.tp > 1:
            payload = tokens * m.hidden * self.act_bytes * 2 * (self.tp - 1) / self.tp
            comm += 2 * m.layers * (self.gpu.allreduce_latency_s + payload / self.link)
        group = self.moe_split // self.pp
        if m.is_moe and group > self.tp:  # experts over more GPUs than attention: all-to-all or all-reduce
            per_gpu = tokens * m.hidden * self.act_bytes * (m.experts_per_token if self.ep > 1 else 2)
            comm += 2 * m.moe_layers * (self.gpu.allreduce_latency_s + per_gpu * (group - 1) / group / self.link)
        if self.pp > 1:
            comm += (self.pp - 1) * (self.gpu.allreduce_latency_s + tokens * m.hidden * self.act_bytes / self.link)

        overhead = cal.step_overhead_s + cal.per_sequence_s * rows + cal.per_layer_s * m.layers
        if work.prefill_chunks:
            overhead += cal.prefill_step_s
        if not work.graph:
            overhead += EAGER_LAUNCH_PER_LAYER_S * m.layers * (1.2 if self.tp > 1 else 1.0)
        compute = linear + attention
        if work.graph and not work.prefill_chunks:
            compute *= self.compile_speedup
        return compute + comm + overhead

    def _experts_touched(self, tokens: int) -> float:
        m = self.model
        if not m.is_moe:
            return 0.0
        hit = self._cache.get(tokens)
        if hit is None:
            hit = 1.0 - (1.0 - m.experts_per_token / m.num_experts) ** tokens
            if len(self._cache) < 65536:
                self._cache[tokens] = hit
        return hit
