"""Continuous batching in virtual steps: pure logic, no I/O, no clock.

The personalities' schedulers build on ``Scheduler`` (``schedulers.make_scheduler`` picks one).
A caller ``add``s requests and calls ``step(now)`` while the scheduler is not ``idle``; each call decides one iteration (which
sequences prefill how many tokens, which decode), advances their state and returns its
``duration`` (from the cost model) and the tokens it produced. The caller owns time: the tokens
of a step exist at ``now + duration``.

A request's state: ``computed`` tokens have KV; ``seq_len`` = prompt + generated tokens. A step
computes ``remaining = seq_len - computed`` tokens for a prefill (possibly a chunk of them), 1 for a
decode; when a sequence's computed tokens reach its length the step emits its next token.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import random
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from .config import EngineConfig
from .costmodel import CostModel, StepWork
from .kvcache import KVPool

NO_OVERLAP_STEP_S = 0.3e-3  # scheduling no longer hidden behind the previous step (SGLang overlap off)
NO_OVERLAP_PER_SEQ_S = 4e-6
STREAM_PER_TOKEN_S = 6e-6  # detokenizing and sending one chunk of output


@dataclass(eq=False)
class Request:
    id: str
    prompt_len: int
    max_tokens: int
    arrival: float = 0.0
    block_hashes: Sequence[Hashable] = ()  # chained hashes of the prompt's full blocks
    priority: int = 0
    generated: int = 0
    computed: int = 0
    pinned: list = field(default_factory=list)  # cached blocks this request uses (a prefix of block_hashes)
    private: int = 0  # KV tokens allocated to this request alone
    preemptions: int = 0
    cached_tokens: int = 0  # prompt tokens served from the prefix cache at the last admission

    @property
    def seq_len(self) -> int:
        return self.prompt_len + self.generated

    @property
    def remaining(self) -> int:
        return self.prompt_len + self.generated - self.computed

    @property
    def in_prefill(self) -> bool:
        return self.generated == 0 or self.computed < self.prompt_len + self.generated - 1


@dataclass
class StepResult:
    duration: float = 0.0
    emitted: list[tuple[str, int]] = field(default_factory=list)  # (request id, token index) in order
    first_tokens: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (request id, why) dropped as unservable
    prefill_tokens: int = 0
    decode_batch: int = 0
    preempted: int = 0


@dataclass
class SchedulerStats:
    prompt_tokens: int = 0
    generation_tokens: int = 0
    cache_queries: int = 0  # prompt tokens looked up in the prefix cache
    cache_hits: int = 0
    preemptions: int = 0
    steps: int = 0
    busy_seconds: float = 0.0


class Scheduler(ABC):
    """What both personalities share: the queues, the KV pool, admission bookkeeping, emission."""

    alloc_granularity = 1

    def __init__(self, config: EngineConfig, cost_model: CostModel, capacity_tokens: int,
                 rng: random.Random | None = None):
        self.cfg = config
        self.cost = cost_model
        self.rng = rng or random.Random(config.seed)
        self.pool = KVPool(capacity_tokens, config.block_size, config.prefix_cache)
        self.block = config.block_size
        self.max_running = config.max_running or 1 << 30
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.requests: dict[str, Request] = {}
        self.stats = SchedulerStats()
        self.noise = config.noise
        # One factor for the whole run (a GPU a little faster or slower), jitter on top per step.
        self.run_factor = 1.0 + self.noise * max(-2.5, min(2.5, self.rng.gauss(0, 1))) if self.noise else 1.0

    # -- the caller's interface --------------------------------------------------------------------
    def add(self, request: Request) -> None:
        if request.id in self.requests:
            raise ValueError(f"request id {request.id!r} is already queued")
        self.requests[request.id] = request
        self.waiting.append(request)

    def abort(self, request_id: str) -> bool:
        req = self.requests.pop(request_id, None)
        if req is None:
            return False
        if req in self.waiting:
            self.waiting.remove(req)
        elif req in self.running:
            self.running.remove(req)
        self._drop_kv(req)
        self._forget_partial(req)
        return True

    @property
    def idle(self) -> bool:
        return not self.requests

    @property
    def num_running(self) -> int:
        return len(self.running)

    @property
    def num_waiting(self) -> int:
        return len(self.waiting)

    @abstractmethod
    def step(self, now: float) -> StepResult:
        """One engine iteration: which tokens it emits and how long it takes."""

    # -- many decode steps at once (``decode_run``) -------------------------------------------------
    def steady_decode(self) -> tuple[list[Request], int] | None:
        """The running batch and how many steps it may decode unchanged, when no prefill or admission
        can happen until a request finishes or a new one arrives; None otherwise."""
        return None

    def decode_graph(self, batch: int) -> bool:
        return self.cfg.cuda_graph and batch <= (self.cfg.cuda_graph_max_bs or 0)

    def after_decode_steps(self, steps: int) -> None:
        """Hook: what the personality updates after ``steps`` decode-only steps."""

    # -- shared mechanics --------------------------------------------------------------------------
    def _forget_partial(self, req: Request) -> None:
        """Hook: a personality forgets its own references to ``req`` (e.g. SGLang's chunked request)."""

    def _match_prefix(self, req: Request) -> None:
        """Admission: reuse the cached leading blocks of the prompt (at least one token is computed)."""
        limit = max(0, (req.seq_len - 1) // self.block)
        n = self.pool.match(req.block_hashes, limit) if req.block_hashes else 0
        if n:
            req.pinned = list(req.block_hashes[:n])
            self.pool.pin(req.pinned)
        req.computed = req.cached_tokens = n * self.block
        self.stats.cache_queries += req.seq_len
        self.stats.cache_hits += req.cached_tokens

    def _unmatch(self, req: Request) -> None:
        """Undo ``_match_prefix`` for a request that was not admitted after all."""
        self.stats.cache_queries -= req.seq_len
        self.stats.cache_hits -= req.cached_tokens
        self._drop_kv(req)

    def _take_waiting(self, req: Request, n: int, kv_tokens: int, scheduled: list[tuple[Request, int]]) -> bool:
        """Admit the head of the queue with ``n`` prompt tokens this step, when ``kv_tokens`` of KV
        fit; False (its prefix match undone) when they do not."""
        if n <= 0 or not self._ensure_kv(req, kv_tokens):
            self._unmatch(req)
            return False
        self.waiting.popleft()
        self.running.append(req)
        scheduled.append((req, n))
        return True

    def _ensure_kv(self, req: Request, tokens: int) -> bool:
        """Allocate KV so that ``tokens`` more of ``req`` can be computed; False when the pool is full."""
        need = req.computed + tokens - (len(req.pinned) * self.block + req.private)
        if need <= 0:
            return True
        g = self.alloc_granularity
        need = -(-need // g) * g
        if not self.pool.allocate(need):
            return False
        req.private += need
        return True

    def _drop_kv(self, req: Request) -> None:
        if req.pinned:
            self.pool.unpin(req.pinned)
            req.pinned = []
        if req.private:
            self.pool.release(req.private)
            req.private = 0
        req.computed = 0

    def _preempt(self, req: Request) -> None:
        """Free the request's KV; it waits again and recomputes its prompt and output so far."""
        self._drop_kv(req)
        req.preemptions += 1
        self.stats.preemptions += 1

    def _advance(self, req: Request, tokens: int, result: StepResult) -> bool:
        """``tokens`` of ``req`` were computed; emits a token when the sequence is complete. True if it finished."""
        req.computed += tokens
        if self.pool.caching and req.block_hashes:
            full = min(req.computed, req.prompt_len) // self.block
            while len(req.pinned) < full and req.private >= self.block:
                h = req.block_hashes[len(req.pinned)]
                self.pool.publish(h)
                req.private -= self.block
                req.pinned.append(h)
        if req.computed < req.seq_len:
            return False
        index = req.generated
        req.generated += 1
        result.emitted.append((req.id, index))
        self.stats.generation_tokens += 1
        if index == 0:
            result.first_tokens.append(req.id)
            self.stats.prompt_tokens += req.prompt_len
        if req.generated >= req.max_tokens:
            self._drop_kv(req)
            del self.requests[req.id]
            result.finished.append(req.id)
            return True
        return False

    def _fail(self, req: Request, why: str, result: StepResult) -> None:
        self._drop_kv(req)
        self.requests.pop(req.id, None)
        result.failed.append((req.id, why))

    def _timed(self, work: StepWork, extra: float, result: StepResult) -> StepResult:
        duration = self.cost.step_time(work) + extra + self.cfg.overhead_step_s
        if self.cfg.overhead_request_s:  # once per request, on the step that starts its prefill
            duration += self.cfg.overhead_request_s * sum(1 for _, done in work.prefill_chunks if done == 0)
        if work.decode_batch:
            duration += STREAM_PER_TOKEN_S * work.decode_batch / self.cfg.stream_interval
        if not self.cfg.overlap_schedule:
            duration += NO_OVERLAP_STEP_S + NO_OVERLAP_PER_SEQ_S * (work.decode_batch + len(work.prefill_chunks))
        if self.noise:
            duration *= self.run_factor * max(0.2, 1.0 + 0.5 * self.noise * self.rng.gauss(0, 1))
        result.duration = duration
        result.prefill_tokens = work.prefill_tokens
        result.decode_batch = work.decode_batch
        self.stats.steps += 1
        self.stats.busy_seconds += duration
        return result

    @property
    def kv_usage(self) -> float:
        return self.pool.active / self.pool.capacity

