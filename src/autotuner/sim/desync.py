"""Closed-loop users as a real benchmark sees them after its first waves: out of step with each other.

With identical request lengths, a deterministic closed loop stays in lockstep for ever: every user
finishes in the same step, comes back in the same step, and each wave prefills ``users x input``
tokens at once. Real runs do not: tiny timing differences (HTTP, tokenizing, which step a request
lands in) compound from wave to wave until arrivals are spread over the request cycle; measured
TTFT then looks like one prompt's prefill plus the queueing behind the others, not a whole wave's.
The twin replays a level that way: the first wave goes at once (every user's first request, as the
client starts them); after it, user ``i`` starts again ``i / users`` of one estimated request cycle
(prefill alone + output tokens x the decode step of the full batch) after the first, and from then
on each user's next request follows its previous response. Checked against measured runs of ten
requests per user (``benchmarks/silicon_fidelity.py``): mean TTFT then grows with users x prompt
length as measured (the first wave's queue, a tenth of the requests), instead of the lockstep's
whole-wave prefill on every request. Lockstep needs every user running at once: when the KV cache
or the request slots cannot hold them all, requests queue, the queue spreads them, and the closed
loop is replayed as it is; likewise a level of fewer than ``DESYNC_MIN_ROUNDS`` requests per user.
"""

from __future__ import annotations

from .costmodel import StepWork
from .engine import SimEngine

DESYNC_MIN_ROUNDS = 3  # a level of fewer requests per user is mostly its first wave: replayed as it is
MAX_SPREAD_S = 600.0  # a cycle estimate beyond this is capped (a pathological configuration)


def request_cycle(engine: SimEngine, input_tokens: float, output_tokens: float, users: int) -> float:
    """Seconds one request takes with ``users`` requests in the engine, from the cost model alone."""
    replicas = len(engine.replicas)
    cfg = engine.config
    batch = max(1, min(-(-users // replicas), cfg.max_running or users))
    n_in, n_out = max(1, int(input_tokens)), max(1, int(output_tokens))
    budget = cfg.chunk_size if cfg.chunked_prefill and cfg.chunk_size else n_in
    prefill, done = 0.0, 0
    while done < n_in:  # the prompt in chunks of the step budget
        chunk = min(budget, n_in - done)
        prefill += engine.cost.step_time(StepWork(((chunk, done),), 0, 0, False))
        done += chunk
    context = batch * (n_in + n_out / 2)
    graph = cfg.cuda_graph and batch <= (cfg.cuda_graph_max_bs or 0)
    decode = engine.cost.step_time(StepWork((), batch, int(context), graph))
    return prefill + (n_out - 1) * decode


def all_users_fit(engine: SimEngine, input_tokens: float, output_tokens: float, users: int) -> bool:
    """Whether every user's request can run at once (KV cache and request slots). When not, requests
    queue and the queue itself spreads them out: the closed loop is left as it is."""
    replicas = len(engine.replicas)
    per_replica = -(-users // replicas)
    slots = engine.config.max_running or per_replica
    return per_replica <= slots and per_replica * (input_tokens + output_tokens) <= engine.memory.kv_tokens


def start_offsets(engine: SimEngine, input_tokens: float, output_tokens: float, users: int) -> list[float]:
    """When each user sends its first request, relative to the level's start."""
    if users <= 1:
        return [0.0] * users
    cycle = min(request_cycle(engine, input_tokens, output_tokens, users), MAX_SPREAD_S)
    return [cycle * i / users for i in range(users)]
