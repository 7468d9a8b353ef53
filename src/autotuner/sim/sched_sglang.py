"""SGLang's scheduler: prefill first, then decode.

Each step is either a prefill batch (the request being chunked, then waiting requests in policy
order, up to ``--chunked-prefill-size`` / ``--max-prefill-tokens`` new tokens) or, when nothing can be
admitted, a decode step of every running request; ``--enable-mixed-chunk`` runs the decodes inside
the prefill step instead of stalling them. Admission reserves KV for the prompt plus the expected
output (``max_tokens`` times ``new_token_ratio``, which starts at 0.7 x ``--schedule-conservativeness``
and decays while decoding). When a decode step finds no free KV, requests are retracted (fewest
output tokens first) back to the queue, to be prefilled again later.
"""

from __future__ import annotations

from .costmodel import StepWork
from .scheduler import Request, Scheduler, StepResult

CLIP_MAX_NEW_TOKENS = 4096
INIT_NEW_TOKEN_RATIO = 0.7
MIN_NEW_TOKEN_RATIO_FACTOR = 0.14
NEW_TOKEN_RATIO_DECAY_STEPS = 600
RETRACT_DECODE_STEPS = 20
LPM_FALLBACK_QUEUE = 128  # SGLang stops sorting by prefix match beyond this many waiting requests
LPM_COST_PER_REQUEST_S = 5e-6


class SGLangScheduler(Scheduler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cons = self.cfg.conservativeness
        self.init_ratio = min(INIT_NEW_TOKEN_RATIO * cons, 1.0)
        self.min_ratio = min(self.init_ratio * MIN_NEW_TOKEN_RATIO_FACTOR, 1.0)
        self.ratio_decay = (self.init_ratio - self.min_ratio) / NEW_TOKEN_RATIO_DECAY_STEPS
        self.new_token_ratio = self.init_ratio
        self.chunked: Request | None = None  # the request whose prompt is being prefilled in chunks

    def _forget_partial(self, req: Request) -> None:
        if self.chunked is req:
            self.chunked = None

    def steady_decode(self) -> tuple[list[Request], int] | None:
        if self.chunked is not None or self.waiting or not self.running:
            return None
        return self.running, 1 << 30

    def after_decode_steps(self, steps: int) -> None:
        self.new_token_ratio = max(self.min_ratio, self.new_token_ratio - self.ratio_decay * steps)

    def _reserve(self, req: Request) -> float:
        return min(req.max_tokens - req.generated, CLIP_MAX_NEW_TOKENS) * self.new_token_ratio

    def step(self, now: float) -> StepResult:
        result = StepResult()
        if not self.running and not self.chunked:
            self.new_token_ratio = self.init_ratio
        overhead = 0.0
        batch: list[tuple[Request, int]] = []
        if self.chunked is not None or self.waiting:
            overhead = self._order_waiting()
            batch = self._prefill_batch()
        decodes: list[Request] = []
        if not batch or (self.cfg.mixed_chunk and self.running):
            decodes = self._decodable(result)
        if not batch and not decodes:
            # Nothing can run although requests wait: the head one can never fit; drop it.
            stuck = self.chunked or (self.waiting[0] if self.waiting else None)
            if stuck is not None:
                if stuck is self.chunked:
                    self.chunked = None
                else:
                    self.waiting.popleft()
                self._fail(stuck, "the request does not fit in the KV cache", result)
            return result
        chunks = tuple((n, req.computed) for req, n in batch)
        context = sum(r.seq_len for r in decodes)
        graph = self.cfg.cuda_graph and not batch and len(decodes) <= self.cfg.cuda_graph_max_bs
        self._timed(StepWork(chunks, len(decodes), context, graph), overhead, result)
        for req in decodes:
            if self._advance(req, 1, result):
                self.running.remove(req)
        for req, n in batch:
            if not self._advance(req, n, result) and not req.in_prefill:
                self.running.append(req)
        chunked = self.chunked
        if chunked is not None and (chunked.id not in self.requests or not chunked.in_prefill):
            self.chunked = None
        if decodes and not batch:
            self.new_token_ratio = max(self.min_ratio, self.new_token_ratio - self.ratio_decay)
        return result

    def _order_waiting(self) -> float:
        policy = self.cfg.schedule_policy
        waiting = self.waiting
        if len(waiting) < 2 or policy == "fcfs":
            return 0.0
        if policy in ("lpm", "dfs-weight"):
            if len(waiting) > LPM_FALLBACK_QUEUE:
                return 0.0
            match = self.pool.match
            ordered = sorted(waiting, key=lambda r: -match(r.block_hashes) if r.block_hashes else 0)
            cost = LPM_COST_PER_REQUEST_S * len(waiting)
        elif policy == "lof":
            ordered, cost = sorted(waiting, key=lambda r: -(r.max_tokens - r.generated)), 0.0
        elif policy == "priority":
            ordered, cost = sorted(waiting, key=lambda r: (-r.priority, r.arrival)), 0.0
        else:  # random
            ordered, cost = list(waiting), 0.0
            self.rng.shuffle(ordered)
        waiting.clear()
        waiting.extend(ordered)
        return cost

    def _prefill_batch(self) -> list[tuple[Request, int]]:
        cfg = self.cfg
        chunk_budget = cfg.chunk_size if cfg.chunked_prefill else None
        prefill_budget = cfg.max_prefill_tokens
        reserved = sum(self._reserve(r) for r in self.running)
        batch: list[tuple[Request, int]] = []

        if self.chunked is not None:
            req = self.chunked
            n = req.remaining if chunk_budget is None else min(req.remaining, chunk_budget)
            if not self._ensure_kv(req, n):
                return []  # a decode step will retract to make room
            batch.append((req, n))
            reserved += req.remaining - n + self._reserve(req)
            if chunk_budget is not None:
                chunk_budget -= n
            prefill_budget -= n
            if req.remaining > n:
                return batch

        while self.waiting:
            if len(self.running) + len(batch) >= self.max_running:
                break
            if prefill_budget <= 0 or (chunk_budget is not None and chunk_budget <= 0):
                break
            req = self.waiting[0]
            self._match_prefix(req)
            need = req.remaining
            if need + self._reserve(req) > self.pool.available - reserved:
                self._unmatch(req)
                break
            if chunk_budget is not None and need > chunk_budget:
                n = chunk_budget
            elif chunk_budget is None and need > prefill_budget and batch:
                self._unmatch(req)
                break
            else:
                n = need
            if not self._ensure_kv(req, n):
                self._unmatch(req)
                break
            self.waiting.popleft()
            batch.append((req, n))
            reserved += need - n + self._reserve(req)
            prefill_budget -= n
            if chunk_budget is not None:
                chunk_budget -= n
            if n < need:
                self.chunked = req
                break
        return batch

    def _decodable(self, result: StepResult) -> list[Request]:
        """The running requests, after retracting some if the pool cannot take one token each."""
        running = self.running
        if not running:
            return []
        if self.pool.available < len(running):
            victims = sorted(running, key=lambda r: (r.generated, -r.prompt_len))
            retracted = []
            for victim in victims:
                if self.pool.available >= len(running) or len(running) == 1:
                    break
                running.remove(victim)
                self._preempt(victim)
                retracted.append(victim)
                result.preempted += 1
            self.waiting.extendleft(reversed(retracted))
            total_max = sum(r.max_tokens for r in running) or 1
            estimate = (sum(r.generated for r in running) + RETRACT_DECODE_STEPS * len(running)) / total_max
            self.new_token_ratio = min(1.0, max(estimate, self.min_ratio))
        decodes = []
        for req in running:
            if self._ensure_kv(req, 1):
                decodes.append(req)
        return decodes
