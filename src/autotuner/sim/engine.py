"""One simulated engine from its command line: configuration, model, cost model, memory, schedulers.

``SimEngine.from_argv(argv)`` does what the real engine does before it serves: read flags, find the
model, check the parallel layout, and lay out GPU memory; any failure is a ``SimStartupError`` with
the engine's own message (``SimConfigError``, exit code 2, for a bad flag). With ``--dp-size N`` there
are N independent replicas, each with its own KV pool and scheduler; requests go round robin.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from dataclasses import asdict, replace

from .config import EngineConfig, parse_engine_args, with_defaults
from .calibration import fitted
from .costmodel import CostModel, RooflineCostModel
from .table_model import select_cost_model
from .errors import SimStartupError
from ..hardware.gpus import GPU, get_gpu
from .memory import MemoryPlan, plan_memory
from ..hardware.models import ModelSpec, load_model
from .scheduler import Request, Scheduler, SchedulerStats
from .schedulers import make_scheduler

TORCH_COMPILE_DECODE_SPEEDUP = 0.92


class SimEngine:
    def __init__(self, config: EngineConfig, model: ModelSpec, gpu: GPU, cost: CostModel, memory: MemoryPlan):
        self.config, self.model, self.gpu, self.cost, self.memory = config, model, gpu, cost, memory
        self.cost_note: str | None = None  # which cost model the step times come from, for the log
        self.frontend = fitted(config.personality)  # per-request front-end cost (``calibration``)
        noise_key = " ".join(_without_address(config.argv))  # the same run-to-run factor in real and virtual time
        self.replicas: list[Scheduler] = [
            make_scheduler(config, cost, memory.kv_tokens, random.Random(f"{config.seed}:{i}:{noise_key}"))
            for i in range(config.dp)]
        self._next_replica = 0

    @classmethod
    def from_argv(cls, argv: Sequence[str], cost_model: CostModel | None = None) -> SimEngine:
        cfg = parse_engine_args(list(argv))
        gpu = get_gpu(cfg.gpu)
        try:
            model = load_model(cfg.model)
        except ValueError as e:
            raise SimStartupError(f"ValueError: {e}") from e
        _check_layout(cfg, model)
        cfg = with_defaults(cfg, gpu, model)
        if cfg.personality == "vllm" and not cfg.chunked_prefill and cfg.max_batched_tokens < cfg.context_length:
            raise SimStartupError(
                f"ValueError: max_num_batched_tokens ({cfg.max_batched_tokens}) is smaller than max_model_len "
                f"({cfg.context_length}). This effectively limits the maximum sequence length to "
                "max_num_batched_tokens and makes vLLM reject longer sequences. Please increase "
                "max_num_batched_tokens or decrease max_model_len.")
        speedup = TORCH_COMPILE_DECODE_SPEEDUP if cfg.torch_compile else 1.0
        note = None
        layout = parallel_layout(cfg, model)
        if cost_model is not None:
            cost = cost_model
        elif cfg.cost_model == "roofline":
            cost = RooflineCostModel(model, gpu, cfg.attention_tp, cfg.pp, cfg.quantization, cfg.kv_cache_dtype,
                                     cfg.dtype, compile_speedup=speedup, **layout)
            note = "step times: roofline model (--cost-model roofline)"
        elif layout:  # expert or attention data parallelism: the tables cover plain TP only
            cost = RooflineCostModel(model, gpu, cfg.attention_tp, cfg.pp, cfg.quantization, cfg.kv_cache_dtype,
                                     cfg.dtype, compile_speedup=speedup, calibration=fitted(cfg.personality),
                                     **layout)
            note = (f"step times: roofline model, calibrated for {cfg.personality} ({describe_layout(cfg, layout)})")
        else:
            cost, note = select_cost_model(cfg.model, gpu.name, cfg.personality, cfg.tp, cfg.kv_cache_dtype,
                                           cfg.quantization, pp=cfg.pp, dtype=cfg.dtype,
                                           compile_speedup=speedup, model=model,
                                           calibration=fitted(cfg.personality))
        memory = plan_memory(cfg, model, gpu, cost)
        if cfg.max_running is None:  # SGLang sizes its request pool from the KV pool
            cfg = replace(cfg, max_running=min(max(int(memory.kv_tokens / cfg.context_length * 512), 2048), 4096))
        engine = cls(cfg, model, gpu, cost, memory)
        engine.cost_note = note
        return engine

    # -- requests ----------------------------------------------------------------------------------
    @property
    def block_size(self) -> int:
        return self.config.block_size

    @property
    def startup_seconds(self) -> float:
        return self.config.startup_seconds

    def check_request(self, prompt_tokens: int, max_tokens: int) -> str | None:
        """Why the engine would reject this request (an HTTP 400), or None."""
        context = self.config.context_length
        total = prompt_tokens + max_tokens
        if total > context:
            if self.config.personality == "vllm":
                return (f"This model's maximum context length is {context} tokens. However, you requested "
                        f"{total} tokens ({prompt_tokens} in the messages, {max_tokens} in the completion). "
                        "Please reduce the length of the messages or completion.")
            return (f"Requested token count exceeds the model's maximum context length of {context} tokens. "
                    f"You requested a total of {total} tokens: {prompt_tokens} tokens from the input messages "
                    f"and {max_tokens} tokens for the completion. Please reduce the number of tokens in the "
                    "input messages or the completion to fit within the limit.")
        if total > self.memory.kv_tokens:
            return (f"The input ({prompt_tokens} tokens) plus max_tokens ({max_tokens}) is longer than the KV "
                    f"cache ({self.memory.kv_tokens} tokens).")
        return None

    def make_request(self, request_id: str, prompt_len: int, max_tokens: int, arrival: float,
                     block_hashes: Sequence[Hashable] = (), priority: int = 0) -> Request:
        return Request(request_id, prompt_len, max_tokens, arrival, block_hashes, priority)

    def submit(self, request: Request) -> int:
        """Queue ``request`` on the next replica (round robin); returns the replica's index."""
        index = self._next_replica
        self._next_replica = (index + 1) % len(self.replicas)
        self.replicas[index].add(request)
        return index

    # -- state -------------------------------------------------------------------------------------
    def stats(self) -> SchedulerStats:
        total = SchedulerStats()
        for r in self.replicas:
            for key, value in asdict(r.stats).items():
                setattr(total, key, getattr(total, key) + value)
        return total

    @property
    def num_running(self) -> int:
        return sum(r.num_running for r in self.replicas)

    @property
    def num_waiting(self) -> int:
        return sum(r.num_waiting for r in self.replicas)

    @property
    def kv_usage(self) -> float:
        return sum(r.kv_usage for r in self.replicas) / len(self.replicas)

    def startup_lines(self) -> list[str]:
        cfg = self.config
        if cfg.personality == "trtllm":
            from .sched_trtllm import trtllm_startup_lines
            head, tail = trtllm_startup_lines(cfg, self.gpu), []
        elif cfg.personality == "sglang":
            head = [f"server_args=ServerArgs(model_path='{cfg.model}', tp_size={cfg.tp}, dp_size={cfg.dp}, "
                    f"pp_size={cfg.pp}, mem_fraction_static={cfg.mem_fraction}, chunked_prefill_size="
                    f"{cfg.chunk_size if cfg.chunked_prefill else -1}, max_running_requests={cfg.max_running}, "
                    f"schedule_policy='{cfg.schedule_policy}', disable_radix_cache={not cfg.prefix_cache}, "
                    f"cuda_graph_max_bs={cfg.cuda_graph_max_bs}, disable_cuda_graph={not cfg.cuda_graph}, "
                    f"quantization={cfg.quantization!r}, kv_cache_dtype='{cfg.kv_cache_dtype}')",
                    f"Simulating {self.gpu.full_name} x {cfg.num_gpus}"]
            tail = [f"max_total_num_tokens={self.memory.kv_tokens}, chunked_prefill_size="
                    f"{cfg.chunk_size if cfg.chunked_prefill else -1}, max_prefill_tokens={cfg.max_prefill_tokens}, "
                    f"max_running_requests={cfg.max_running}, context_len={cfg.context_length}"]
        else:
            head = [f"vLLM API server (simulated) args: model='{cfg.model}', tensor_parallel_size={cfg.tp}, "
                    f"data_parallel_size={cfg.dp}, gpu_memory_utilization={cfg.mem_fraction}, max_num_seqs="
                    f"{cfg.max_running}, max_num_batched_tokens={cfg.max_batched_tokens}, enable_chunked_prefill="
                    f"{cfg.chunked_prefill}, enable_prefix_caching={cfg.prefix_cache}, enforce_eager="
                    f"{not cfg.cuda_graph}, max_model_len={cfg.context_length}",
                    f"Simulating {self.gpu.full_name} x {cfg.num_gpus}"]
            tail = []
        return head + ([self.cost_note] if self.cost_note else []) + self.memory.log_lines + tail


def parallel_layout(cfg: EngineConfig, model: ModelSpec) -> dict:
    """The cost model's layout arguments beyond plain TP (empty for plain TP x PP replicas).

    SGLang ``--enable-dp-attention``: ``tp`` GPUs hold the experts, each of the ``dp`` ranks runs
    attention on ``tp / dp`` of them, and the ranks' MoE layers run together. vLLM with
    ``--data-parallel-size`` on a MoE model: the experts span ``tp x dp`` GPUs, likewise synchronized.
    """
    if not model.is_moe:
        return {}
    if cfg.personality == "sglang" and cfg.dp_attention:
        return {"moe_gpus": cfg.tp, "ep": cfg.ep, "sync_ranks": cfg.dp}
    if cfg.personality == "vllm" and cfg.dp > 1:
        return {"moe_gpus": cfg.tp * cfg.dp, "ep": cfg.ep, "sync_ranks": cfg.dp}
    if cfg.ep > 1:
        return {"moe_gpus": cfg.tp, "ep": cfg.ep, "sync_ranks": 1}
    return {}


def describe_layout(cfg: EngineConfig, layout: dict) -> str:
    ranks = layout.get("sync_ranks", 1)
    parts = [f"attention TP {cfg.attention_tp}" + (f" x DP {ranks}" if ranks > 1 else ""),
             f"experts over {layout.get('moe_gpus') or cfg.tp} GPUs" + (f" (EP {cfg.ep})" if cfg.ep > 1 else " (TP)")]
    return ", ".join(parts)


def _check_layout(cfg: EngineConfig, model: ModelSpec) -> None:
    if cfg.dp_attention and cfg.tp % cfg.dp:
        raise SimStartupError(f"AssertionError: tp_size ({cfg.tp}) must be divisible by dp_size ({cfg.dp}) "
                              "with --enable-dp-attention.")
    if cfg.context_length and cfg.context_length > model.max_context:
        flag = "context_length" if cfg.personality == "sglang" else "max_model_len"
        raise SimStartupError(f"ValueError: User-specified {flag} ({cfg.context_length}) is greater than the "
                              f"derived context_length ({model.max_context}) of the model.")
    tp = cfg.attention_tp
    if model.heads % tp and not model.is_mla:  # MLA engines pad heads (DeepSeek runs on TP 72 of an NVL72)
        if cfg.personality == "sglang":
            raise SimStartupError(f"AssertionError: Total number of attention heads ({model.heads}) must be "
                                  f"divisible by tensor parallel size ({tp}).")
        raise SimStartupError(f"ValueError: Total number of attention heads ({model.heads}) must be divisible "
                              f"by tensor parallel size ({tp}).")
    if model.kv_heads % tp and tp % model.kv_heads and not model.is_mla:
        raise SimStartupError(f"ValueError: Total number of key-value heads ({model.kv_heads}) must be divisible "
                              f"by tensor parallel size ({tp}), or the other way round.")
    if cfg.pp > model.layers:
        raise SimStartupError(f"ValueError: pipeline parallel size ({cfg.pp}) exceeds the number of layers "
                              f"({model.layers}).")


def _without_address(argv: Sequence[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--host", "--port"):
            skip = True
        elif not arg.startswith(("--host=", "--port=")):
            out.append(arg)
    return out
