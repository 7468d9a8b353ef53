"""TensorRT-LLM's personality: in-flight batching, its capacity scheduler and its KV memory plan.

Each iteration runs up to ``max_batch_size`` requests and ``max_num_tokens`` tokens: generation
requests first (one token each), then contexts in arrival order. A context runs whole, or, with
chunked context (``enable_chunked_prefill``), in chunks that fill what is left of the token budget
(a multiple of ``tokens_per_block`` unless it is the last piece); without it a prompt longer than
``max_num_tokens`` can never be scheduled and is refused.

The capacity scheduler decides admission. ``GUARANTEED_NO_EVICT`` (the default) admits a request only
when the KV blocks for its whole sequence (prompt + max tokens) can be reserved, so nothing is ever
evicted; ``MAX_UTILIZATION`` admits whatever fits now and allocates as the sequence grows, pausing the
most recently started request (its KV freed, recomputed later) when the cache is full.

Memory: after the weights, the runtime, the activations of a ``max_num_tokens`` step and the CUDA
graphs, ``kv_cache_config.free_gpu_memory_fraction`` of what is free becomes the paged KV cache
(capped by ``kv_cache_config.max_tokens``). CUDA graphs serve generation-only iterations of at most
``cuda_graph_config.max_batch_size`` requests.
"""

from __future__ import annotations

from .config import EngineConfig
from .costmodel import StepWork
from .scheduler import Request, Scheduler, StepResult
from ..hardware.gpus import GPU


class TRTLLMScheduler(Scheduler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.alloc_granularity = self.block
        self.reserve_whole = self.cfg.schedule_policy != "MAX_UTILIZATION"

    def step(self, now: float) -> StepResult:
        result = StepResult()
        budget = self.cfg.max_batched_tokens
        scheduled: list[tuple[Request, int]] = []
        ordered = [r for r in self.running if not r.in_prefill] + [r for r in self.running if r.in_prefill]
        for req in ordered:
            if budget <= 0:
                break
            if result.preempted and req not in self.running:
                continue  # paused this iteration to make room for an earlier request
            n = self._piece(req, budget)
            if n <= 0:
                continue
            if not self._grow(req, n, scheduled, result):
                break
            scheduled.append((req, n))
            budget -= n
        if not result.preempted:
            budget = self._admit(scheduled, budget, result)
        if not scheduled:
            if self.waiting and not self.running:  # the head request can never fit
                self._fail(self.waiting.popleft(), "the request does not fit in the KV cache", result)
            return result
        chunks = []
        decode_batch = context = 0
        for req, n in scheduled:
            if req.in_prefill:
                chunks.append((n, req.computed))
            else:
                decode_batch += 1
                context += req.seq_len
        graph = self.cfg.cuda_graph and not chunks and decode_batch <= self.cfg.cuda_graph_max_bs
        self._timed(StepWork(tuple(chunks), decode_batch, context, graph), 0.0, result)
        finished = False
        for req, n in scheduled:
            finished |= self._advance(req, n, result)
        if finished:
            self.running = [r for r in self.running if r.id in self.requests]
        return result

    def _piece(self, req: Request, budget: int) -> int:
        """Tokens of ``req`` this iteration may compute within ``budget`` (0: not this time)."""
        n = req.remaining
        if n <= budget:
            return n
        if not self.cfg.chunked_prefill:
            return 0
        return budget // self.block * self.block

    def _grow(self, req: Request, n: int, scheduled: list, result: StepResult) -> bool:
        """KV for ``n`` more tokens of a running request; under MAX_UTILIZATION pauses the latest
        started requests until it fits. False when ``req`` itself was paused."""
        while not self._ensure_kv(req, n):
            victims = [r for r in self.running if r is not req and all(r is not s for s, _ in scheduled)]
            victim = victims[-1] if victims else req
            self.running.remove(victim)
            self._preempt(victim)
            self.waiting.appendleft(victim)
            result.preempted += 1
            if victim is req:
                return False
        return True

    def _admit(self, scheduled: list[tuple[Request, int]], budget: int, result: StepResult) -> int:
        cfg = self.cfg
        while self.waiting and budget > 0 and len(self.running) < self.max_running:
            req = self.waiting[0]
            if not cfg.chunked_prefill and req.seq_len > cfg.max_batched_tokens:
                self._fail(self.waiting.popleft(), f"the prompt ({req.seq_len} tokens) is longer than "
                           f"max_num_tokens ({cfg.max_batched_tokens}) and chunked context is off", result)
                continue
            self._match_prefix(req)
            n = self._piece(req, budget)
            whole = req.prompt_len + req.max_tokens - req.computed
            if not self._take_waiting(req, n, whole if self.reserve_whole else n, scheduled):
                break
            budget -= n
        return budget

    def steady_decode(self) -> tuple[list[Request], int] | None:
        running = self.running
        if not running or len(running) > self.cfg.max_batched_tokens or any(r.in_prefill for r in running):
            return None
        if self.waiting and len(running) < self.max_running:
            return None  # a waiting request may be admitted at the next iteration
        return running, 1 << 30


def trtllm_startup_lines(cfg: EngineConfig, gpu: GPU) -> list[str]:
    return [f"[TensorRT-LLM][INFO] (simulated) trtllm-serve model='{cfg.model}', tensor_parallel_size={cfg.tp}, "
            f"pipeline_parallel_size={cfg.pp}, max_batch_size={cfg.max_running}, max_num_tokens="
            f"{cfg.max_batched_tokens}, max_seq_len={cfg.context_length}, enable_chunked_prefill="
            f"{cfg.chunked_prefill}, capacity_scheduler_policy={cfg.schedule_policy}, free_gpu_memory_fraction="
            f"{cfg.mem_fraction}, cuda_graph_max_batch_size={cfg.cuda_graph_max_bs if cfg.cuda_graph else None}, "
            f"disable_overlap_scheduler={not cfg.overlap_schedule}",
            f"Simulating {gpu.full_name} x {cfg.num_gpus}"]
