"""Many decode-only steps at once, when nothing else can happen in between: ``decode_run``.

Long outputs (8k tokens, hundreds of users) mean millions of identical decode steps whose only change
is the context growing by one token per sequence. When a replica's batch is steady (nobody waits, no
prefill, nobody finishes before the run ends) and no event is due before the run's end, the steps
can be taken together: each step's duration still comes from the cost model (and the noise), one by
one, but the per-request bookkeeping is done once per run instead of once per token. The result is
the same as stepping: the run stops at the first step that ends past ``horizon`` (the next event
anywhere) and one step before any request's last token, so finishing and admission stay in ``step``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .costmodel import StepWork
from .scheduler import Request, Scheduler, StepResult

MIN_RUN_STEPS = 4  # shorter runs are not worth leaving the ordinary path


@dataclass
class DecodeRun:
    """``ends[i]``: when step ``i`` of the run ends (absolute virtual time); every request in ``requests``
    emitted one token per step, starting at token index ``first_index[rid]``."""

    requests: list[Request]
    first_index: dict[str, int]
    ends: list[float] = field(default_factory=list)


def decode_run(scheduler: Scheduler, now: float, horizon: float, max_steps: int = 1 << 20) -> DecodeRun | None:
    """Take decode steps from ``now`` until one ends past ``horizon``; None when the batch is not steady."""
    steady = scheduler.steady_decode()
    if steady is None:
        return None
    running, graph_limit = steady
    b = len(running)
    steps = min(max_steps, min(r.max_tokens - r.generated for r in running) - 1, graph_limit)
    pool, block = scheduler.pool, scheduler.alloc_granularity
    # KV for every token of the run must be there already or free now (else: step one by one).
    spare = pool.available // b - block
    steps = min(steps, spare)
    if steps < MIN_RUN_STEPS:
        return None
    context = sum(r.seq_len for r in running)
    graph = scheduler.decode_graph(b)
    run = DecodeRun(list(running), {r.id: r.generated for r in running})
    t = now
    taken = 0
    while taken < steps:
        result = scheduler._timed(StepWork((), b, context, graph), 0.0, StepResult())
        t += result.duration
        run.ends.append(t)
        context += b
        taken += 1
        if t > horizon:
            break
    for req in running:
        scheduler._ensure_kv(req, taken)  # fits: ``spare`` covers every step of the run
        req.computed += taken
        req.generated += taken
    scheduler.stats.generation_tokens += taken * b
    scheduler.after_decode_steps(taken)
    return run
