"""One candidate against the target traffic: the fewest replicas that meet the SLOs, in virtual time.

Replicas split the traffic evenly: at ``rate`` requests/s each of ``n`` replicas gets ``rate / n``;
with ``concurrency`` users each gets ``ceil(concurrency / n)``. The first prediction runs one
replica at the whole load; when it misses the SLOs its measured request throughput (the replica's
capacity when overloaded) gives the first guess, then ``fewest_replicas`` finds the smallest count
that meets them, assuming more replicas never hurt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..bench.metrics import higher_is_better
from .candidates import Candidate
from .predictor import LevelPrediction, predict_level

HEADROOM = 0.95  # an open loop queues long before a replica reaches its saturated throughput
STEADY_SPANS = 2.0  # a long run covers this many end-to-end latencies of arrivals
LIGHTEST_LOAD = 0.2  # below this share of its capacity, a replica that still misses the SLO never meets it


@dataclass(frozen=True)
class Traffic:
    scenario: str
    rate: float | None = None  # requests/s, Poisson arrivals
    concurrency: int | None = None  # closed-loop users

    def share(self, replicas: int) -> tuple[int | None, float | None]:
        """(concurrency, rate) one of ``replicas`` replicas sees."""
        if self.rate is not None:
            return None, self.rate / replicas
        return max(1, math.ceil(self.concurrency / replicas)), None

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "rate": self.rate, "concurrency": self.concurrency}


@dataclass
class Evaluation:
    candidate: Candidate
    replicas: int | None = None  # None: not feasible (``reason`` says why)
    metrics: dict[str, float] = field(default_factory=dict)  # one replica at its share of the load
    reason: str | None = None
    predictions: int = 0

    @property
    def feasible(self) -> bool:
        return self.replicas is not None

    @property
    def total_gpus(self) -> int:
        return (self.replicas or 0) * self.candidate.gpus


def slo_misses(metrics: dict[str, float], slo: dict[str, float]) -> list[str]:
    """The SLO metrics on the wrong side of their limit (a missing or NaN value misses)."""
    misses = []
    for metric, limit in slo.items():
        v = metrics.get(metric)
        if v is None or v != v or (v < limit if higher_is_better(metric) else v > limit):
            misses.append(metric)
    return misses


def fewest_replicas(meets: Callable[[int], bool], guess: int, limit: int) -> int | None:
    """The smallest n in 1..limit with ``meets(n)``, for a ``meets`` that never turns false as n grows;
    starts at ``guess``, grows by half until it holds, then walks down and bisects. None when even
    ``limit`` misses."""
    seen: dict[int, bool] = {}

    def ok(n: int) -> bool:
        if n not in seen:
            seen[n] = meets(n)
        return seen[n]

    n = min(max(guess, 1), limit)
    low = 0  # largest count known to miss
    while not ok(n):
        low = n
        if n >= limit:
            return None
        n = min(limit, max(n + 1, math.ceil(n * 1.5)))
    high = n
    step = 1  # walk down from the first count that holds, doubling the stride, then bisect
    while high - step > low:
        if ok(high - step):
            high -= step
            step *= 2
        else:
            low = high - step
            break
    while high - low > 1:
        mid = (low + high) // 2
        if ok(mid):
            high = mid
        else:
            low = mid
    return high


Predictor = Callable[..., LevelPrediction]


def evaluate(candidate: Candidate, model: str, traffic: Traffic, slo: dict[str, float],
             max_replicas: int = 64, num_requests: int = 40, seed: int = 0,
             predictor: Predictor = predict_level, max_requests: int = 160,
             hint: int | None = None) -> Evaluation:
    """``num_requests``: the short run; a configuration that passes it is run again long enough
    (``STEADY_SPANS`` end-to-end latencies of arrivals, at most ``max_requests``) to reach its steady
    state, where queues and batches have grown: a short run starts from an empty engine and is only
    ever more optimistic, so a miss there is final. ``hint``: a replica count to start from (a
    sibling configuration's), instead of the guess from one replica's throughput."""
    result = Evaluation(candidate)
    runs: dict[tuple[int, int], LevelPrediction] = {}

    def run(n: int, requests: int) -> LevelPrediction:
        if (n, requests) not in runs:
            concurrency, rate = traffic.share(n)
            runs[n, requests] = predictor(candidate.engine, candidate.gpu, model, candidate.flags,
                                          traffic.scenario, concurrency=concurrency, rate=rate,
                                          num_requests=requests, seed=seed)
            result.predictions += 1
        return runs[n, requests]

    def steady(n: int) -> LevelPrediction:
        short = run(n, num_requests)
        if not short.ok or slo_misses(short.metrics, slo):
            return short
        concurrency, rate = traffic.share(n)
        span = short.metrics.get("e2e_mean") or 0.0
        wanted = STEADY_SPANS * (rate * span if rate is not None else concurrency)
        requests = min(max_requests, max(num_requests, math.ceil(wanted)))
        return short if requests <= num_requests else run(n, requests)

    def passes_short(n: int) -> bool:
        got = run(n, num_requests)
        return got.ok and not slo_misses(got.metrics, slo)

    def meets(n: int) -> bool:
        got = steady(n)
        return got.ok and not slo_misses(got.metrics, slo)

    start = min(max(hint or 1, 1), max_replicas)
    first = run(start, num_requests)
    if not first.ok:
        result.reason = first.error
        return result
    if not first.metrics.get("success_rate", 1.0) or not first.metrics.get("request_throughput"):
        result.reason = "no request succeeded"
        return result
    guess, limit = start, max_replicas if traffic.rate is not None else min(max_replicas, traffic.concurrency)
    misses = hint is None and slo_misses(first.metrics, slo)
    if misses and traffic.rate is not None:  # one replica's throughput, overloaded, is its capacity
        capacity = first.metrics["request_throughput"]
        guess = math.ceil(traffic.rate / (HEADROOM * capacity))
        limit = min(max_replicas, max(guess, math.ceil(traffic.rate / (LIGHTEST_LOAD * capacity))))
    elif misses:
        guess = 2
    # The cheap short runs bound the count from below; the long runs then confirm it, going up.
    n = fewest_replicas(passes_short, guess, limit)
    while n is not None and not meets(n):
        n = n + 1 if n < limit else None
    if n is None:
        last = steady(limit)
        worst = slo_misses(last.metrics, slo) if last.ok else []
        result.reason = (f"misses the SLO ({', '.join(worst)}) even at {limit} replicas" if worst
                         else last.error or "cannot run")
        return result
    result.replicas, result.metrics = n, steady(n).metrics
    return result
