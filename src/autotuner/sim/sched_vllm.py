"""vLLM's (V1) scheduler: one token budget per step shared by decodes and prefill chunks.

Each step first gives every running request what it needs (one token for a decode, the rest of its
prompt, or as much as the ``--max-num-batched-tokens`` budget allows, for a prefill), then admits
waiting requests into the remaining budget while fewer than ``--max-num-seqs`` run. KV blocks are
allocated only for the tokens computed now (no output reservation), so when the cache is full the
most recently admitted request is preempted: its blocks are freed and it is recomputed later (its
prompt blocks usually still sit in the prefix cache). No new request is admitted in a step that
preempted. Without chunked prefill a prompt is only admitted whole.
"""

from __future__ import annotations

from .costmodel import StepWork
from .scheduler import Request, Scheduler, StepResult


class VLLMScheduler(Scheduler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.alloc_granularity = self.block

    def step(self, now: float) -> StepResult:
        result = StepResult()
        cfg = self.cfg
        budget = cfg.max_batched_tokens
        scheduled: list[tuple[Request, int]] = []
        running = self.running
        i = 0
        while i < len(running) and budget > 0:
            req = running[i]
            n = min(req.remaining, budget)
            if not cfg.chunked_prefill and n < req.remaining:
                break
            while not self._ensure_kv(req, n):
                victim = self._victim()
                running.remove(victim)
                self._preempt(victim)
                self.waiting.appendleft(victim)
                result.preempted += 1
                if victim is req:
                    break
            else:
                scheduled.append((req, n))
                budget -= n
                i += 1
                continue
            break  # the request itself was preempted: the cache is full

        if not result.preempted:
            budget = self._admit(scheduled, budget)

        if not scheduled:
            if self.waiting and not running:  # the head request can never fit
                self._fail(self.waiting.popleft(), "the request does not fit in the KV cache", result)
            return result
        chunks = []
        decode_batch = context = longest = 0
        for req, n in scheduled:
            seq = req.seq_len
            if req.in_prefill:
                chunks.append((n, req.computed))
            else:
                decode_batch += 1
                context += seq
            longest = max(longest, seq)
        tokens = cfg.max_batched_tokens - budget
        graph = cfg.cuda_graph and tokens <= cfg.cuda_graph_max_bs and longest <= cfg.max_seq_len_to_capture
        self._timed(StepWork(tuple(chunks), decode_batch, context, graph), 0.0, result)
        finished = False
        for req, n in scheduled:
            finished |= self._advance(req, n, result)
        if finished:
            self.running = [r for r in running if r.id in self.requests]
        return result

    def steady_decode(self) -> tuple[list[Request], int] | None:
        running = self.running
        if self.waiting or not running or len(running) > self.cfg.max_batched_tokens:
            return None
        if any(r.in_prefill for r in running):
            return None
        longest = max(r.seq_len for r in running)
        limit = 1 << 30
        if self.decode_graph(len(running)) and longest <= self.cfg.max_seq_len_to_capture:
            limit = self.cfg.max_seq_len_to_capture - longest  # the graph stays usable for that many steps
        return running, limit

    def decode_graph(self, batch: int) -> bool:
        longest = max((r.seq_len for r in self.running), default=0)
        return (self.cfg.cuda_graph and batch <= self.cfg.cuda_graph_max_bs
                and longest <= self.cfg.max_seq_len_to_capture)

    def _victim(self) -> Request:
        if self.cfg.schedule_policy == "priority":
            return max(self.running, key=lambda r: (r.priority, r.arrival))  # lower value = more important
        return self.running[-1]

    def _next_waiting(self) -> Request:
        if self.cfg.schedule_policy == "priority" and len(self.waiting) > 1:
            best = min(self.waiting, key=lambda r: (r.priority, r.arrival))
            self.waiting.remove(best)
            self.waiting.appendleft(best)
        return self.waiting[0]

    def _admit(self, scheduled: list[tuple[Request, int]], budget: int) -> int:
        cfg = self.cfg
        while self.waiting and budget > 0 and len(self.running) < self.max_running:
            req = self._next_waiting()
            self._match_prefix(req)
            n = req.remaining
            if not cfg.chunked_prefill and n > budget:
                self._unmatch(req)
                break
            n = min(n, budget)
            if not self._take_waiting(req, n, n, scheduled):
                break
            budget -= n
        return budget
