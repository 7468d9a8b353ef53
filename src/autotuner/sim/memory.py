"""GPU memory at start-up: how many tokens the KV cache holds, or the engine's out-of-memory failure.

SGLang reserves ``mem_fraction_static`` of the GPU for weights and the KV pool; the rest must hold the
activations of the largest step (chunked-prefill / max-prefill tokens), the captured CUDA graphs and
the runtime (CUDA context, NCCL). vLLM profiles a step of ``max_num_batched_tokens`` and gives the KV
cache what is left of ``gpu_memory_utilization`` after weights, activations, non-torch memory and
CUDA graphs; there the cache must also hold one request of the full context length (SGLang starts with
any positive pool and rejects longer requests).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import EngineConfig
from .costmodel import RUNTIME_OVERHEAD_BYTES, CostModel
from .errors import SimStartupError
from ..hardware.gpus import GIB, GPU
from ..hardware.models import ModelSpec

VLLM_NON_TORCH_BYTES = int(0.5 * GIB)
NCCL_BYTES = int(0.3 * GIB)
TORCH_COMPILE_BYTES = int(0.5 * GIB)
CUDA_CONTEXT_BYTES = int(0.45 * GIB)


@dataclass
class MemoryPlan:
    total_bytes: int
    weight_bytes: int
    kv_bytes: int
    kv_tokens: int  # KV capacity of one replica, in tokens
    activation_bytes: int
    graph_bytes: int
    log_lines: list[str] = field(default_factory=list)


def _gib(n: float) -> str:
    return f"{n / GIB:.2f}"


def cuda_oom(gpu: GPU, tried: float, in_use: float) -> str:
    free = max(gpu.memory_bytes - in_use, 0.0)
    return (f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {_gib(tried)} GiB. GPU 0 has a total "
            f"capacity of {_gib(gpu.memory_bytes)} GiB of which {_gib(free)} GiB is free. Including non-PyTorch "
            f"memory, this process has {_gib(in_use)} GiB memory in use.")


def _check_weights_fit(cfg: EngineConfig, gpu: GPU, weights: int) -> None:
    if weights + CUDA_CONTEXT_BYTES > gpu.memory_bytes:
        layer = weights / max(1, 32)
        in_use = gpu.memory_bytes - layer / 2
        hint = ("Loading weights failed; the model needs more GPUs (--tp-size) or quantization."
                if cfg.personality == "sglang" else "Model loading failed: try a larger tensor_parallel_size.")
        raise SimStartupError(f"{hint}\n{cuda_oom(gpu, layer, in_use)}")


def plan_memory(cfg: EngineConfig, model: ModelSpec, gpu: GPU, cost: CostModel) -> MemoryPlan:
    """The memory layout of one replica, or ``SimStartupError`` with the engine's own message."""
    weights = cost.weight_bytes_per_gpu()
    _check_weights_fit(cfg, gpu, weights)
    if cfg.personality == "trtllm":
        return _plan_trtllm(cfg, model, gpu, cost, weights)
    if cfg.personality == "sglang":
        return _plan_sglang(cfg, model, gpu, cost, weights)
    return _plan_vllm(cfg, model, gpu, cost, weights)


def _plan_sglang(cfg: EngineConfig, model: ModelSpec, gpu: GPU, cost: CostModel, weights: int) -> MemoryPlan:
    total = gpu.memory_bytes
    static = total * cfg.mem_fraction
    kv_bytes = static - weights
    per_token = cost.kv_bytes_per_token_per_gpu()
    kv_tokens = int(kv_bytes // per_token) if kv_bytes > 0 else 0
    not_enough = "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static."
    if kv_tokens <= 0:
        raise SimStartupError(f"Load weight end. mem usage={_gib(weights)} GB, avail mem={_gib(total - weights)} GB\n"
                              f"{not_enough}")
    if cfg.max_total_tokens:
        kv_tokens = min(kv_tokens, cfg.max_total_tokens)

    step_tokens = min(cfg.chunk_size, cfg.max_prefill_tokens) if cfg.chunked_prefill else cfg.max_prefill_tokens
    activation = cost.activation_bytes(step_tokens)
    graph = cost.cuda_graph_bytes(cfg.cuda_graph_max_bs) if cfg.cuda_graph else 0
    runtime = RUNTIME_OVERHEAD_BYTES + (NCCL_BYTES if cfg.tp * cfg.pp > 1 else 0) + \
        (TORCH_COMPILE_BYTES if cfg.torch_compile else 0)
    rest = total - static
    if rest < runtime + graph:
        raise SimStartupError(
            "Exception: Capture cuda graph failed: " + cuda_oom(gpu, graph, static + runtime) + "\n"
            "Possible solutions:\n1. set --mem-fraction-static to a smaller value (e.g., 0.8 or 0.7)\n"
            "2. set --cuda-graph-max-bs to a smaller value (e.g., 16)\n"
            "3. disable torch compile by not using --enable-torch-compile\n"
            "4. disable CUDA graph by --disable-cuda-graph. (Not recommended. Huge performance loss)")
    if rest < runtime + graph + activation:
        raise SimStartupError(
            f"Scheduler hit an exception while running a prefill batch of {step_tokens} tokens "
            f"(--chunked-prefill-size / --max-prefill-tokens):\n"
            + cuda_oom(gpu, activation, static + runtime + graph))
    kv_used = kv_tokens * per_token
    lines = [
        f"Load weight end. type={model.architecture}, dtype=torch.bfloat16, avail mem={_gib(total - weights)} GB, "
        f"mem usage={_gib(weights)} GB.",
        f"KV Cache is allocated. #tokens: {kv_tokens}, K size: {_gib(kv_used / 2)} GB, V size: {_gib(kv_used / 2)} GB",
        f"Memory pool end. avail mem={_gib(rest)} GB",
        *([f"Capture cuda graph end. mem usage={_gib(graph)} GB. avail mem={_gib(rest - graph)} GB."]
          if cfg.cuda_graph else []),
    ]
    return MemoryPlan(total, weights, int(kv_used), kv_tokens, activation, graph, lines)


def _plan_vllm(cfg: EngineConfig, model: ModelSpec, gpu: GPU, cost: CostModel, weights: int) -> MemoryPlan:
    total = gpu.memory_bytes
    budget = total * cfg.mem_fraction
    non_torch = VLLM_NON_TORCH_BYTES + (NCCL_BYTES if cfg.tp * cfg.pp > 1 else 0)
    sampler = cfg.max_running * model.vocab * 4  # the profiling run samples max_num_seqs rows of FP32 logits
    activation = cost.activation_bytes(cfg.max_batched_tokens) + sampler
    graph = cost.cuda_graph_bytes(cfg.cuda_graph_max_bs) if cfg.cuda_graph else 0
    if total - budget < CUDA_CONTEXT_BYTES:
        raise SimStartupError("Exception while capturing CUDA graphs:\n" + cuda_oom(gpu, graph or GIB / 4, budget))
    kv_bytes = budget - weights - non_torch - activation - graph
    block_bytes = cost.kv_bytes_per_token_per_gpu() * cfg.block_size
    blocks = int(kv_bytes // block_bytes) if kv_bytes > 0 else 0
    if blocks <= 0:
        raise SimStartupError(
            f"Memory profiling: model weights take {_gib(weights)}GiB; non_torch_memory takes {_gib(non_torch)}GiB; "
            f"PyTorch activation peak memory takes {_gib(activation)}GiB; the rest of the memory reserved for KV "
            f"Cache is {_gib(max(kv_bytes, 0))}GiB.\n"
            "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` "
            "when initializing the engine.")
    kv_tokens = blocks * cfg.block_size
    if kv_tokens < cfg.context_length:
        needed = cfg.context_length * cost.kv_bytes_per_token_per_gpu()
        raise SimStartupError(
            f"ValueError: Not enough memory for the KV cache: to serve at least one request with the model's max "
            f"seq len ({cfg.context_length}), {_gib(needed)} GiB KV cache is needed, which is larger than the "
            f"available KV cache memory ({_gib(kv_bytes)} GiB). Based on the available memory, the estimated "
            f"maximum model length is {kv_tokens}. Try increasing `gpu_memory_utilization` or decreasing "
            f"`max_model_len` when initializing the engine.")
    lines = [
        f"Model loading took {_gib(weights)} GiB",
        f"Memory profiling: the current vLLM instance can use total_gpu_memory ({_gib(total)}GiB) x "
        f"gpu_memory_utilization ({cfg.mem_fraction:.2f}) = {_gib(budget)}GiB; model weights take {_gib(weights)}GiB; "
        f"non_torch_memory takes {_gib(non_torch)}GiB; PyTorch activation peak memory takes {_gib(activation)}GiB; "
        f"the rest of the memory reserved for KV Cache is {_gib(kv_bytes)}GiB.",
        f"GPU KV cache size: {kv_tokens:,} tokens",
        f"Maximum concurrency for {cfg.context_length:,} tokens per request: {kv_tokens / cfg.context_length:.2f}x",
        *([f"Graph capturing finished, took {_gib(graph)} GiB"] if cfg.cuda_graph else []),
    ]
    return MemoryPlan(total, weights, int(kv_bytes), kv_tokens, activation, graph, lines)


def _plan_trtllm(cfg: EngineConfig, model: ModelSpec, gpu: GPU, cost: CostModel, weights: int) -> MemoryPlan:
    """The paged KV cache: a fraction of the memory free after weights, runtime, activations and graphs."""
    total = gpu.memory_bytes
    runtime = RUNTIME_OVERHEAD_BYTES + (NCCL_BYTES if cfg.tp * cfg.pp > 1 else 0)
    activation = cost.activation_bytes(cfg.max_batched_tokens)
    graph = cost.cuda_graph_bytes(cfg.cuda_graph_max_bs) if cfg.cuda_graph else 0
    free = total - weights - runtime - graph
    if free < activation:
        raise SimStartupError(
            f"[TensorRT-LLM][ERROR] Executor creation failed while profiling a step of max_num_tokens "
            f"({cfg.max_batched_tokens}) tokens; reduce --max_num_tokens or use more GPUs (--tp_size).\n"
            + cuda_oom(gpu, activation, total - free))
    free -= activation
    kv_bytes = free * cfg.mem_fraction
    block_bytes = cost.kv_bytes_per_token_per_gpu() * cfg.block_size
    blocks = int(kv_bytes // block_bytes)
    if cfg.max_total_tokens:
        blocks = min(blocks, -(-cfg.max_total_tokens // cfg.block_size))
    if blocks <= 0:
        raise SimStartupError(
            f"[TensorRT-LLM][ERROR] Not enough GPU memory for the KV cache: {free / GIB:.2f} GiB free after "
            f"weights ({weights / GIB:.2f} GiB); increase kv_cache_config.free_gpu_memory_fraction or use more GPUs.")
    kv_tokens = blocks * cfg.block_size
    lines = [f"[TensorRT-LLM][INFO] Memory usage when calculating max tokens in paged kv cache: total: "
             f"{total / GIB:.2f} GiB, available: {free / GIB:.2f} GiB",
             f"[TensorRT-LLM][INFO] [MemUsageChange] Allocated {blocks * block_bytes / GIB:.2f} GiB for max tokens "
             f"in paged KV cache ({kv_tokens}).",
             f"[TensorRT-LLM][INFO] Number of tokens per block: {cfg.block_size}, blocks in primary pool: {blocks}"]
    return MemoryPlan(total, weights, int(blocks * block_bytes), kv_tokens, activation, graph, lines)
