"""Cost and throughput of feasible plans, their ranking and the Pareto front.

Cost per million output tokens = replicas x GPUs per replica x $/GPU-hour over the output tokens
served in an hour. Throughput per GPU = output tokens/s served over all the plan's GPUs. Both are
at the target traffic, so over-provisioning (a replica more than the load needs) shows up in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .evaluate import Evaluation, Traffic

RANKINGS = ("cost", "throughput")


@dataclass
class Plan:
    evaluation: Evaluation
    price_per_gpu_hour: float
    output_tokens_per_s: float  # served by the whole plan
    cost_per_hour: float
    cost_per_mtok: float
    throughput_per_gpu: float
    pareto: bool = False

    def to_dict(self) -> dict[str, Any]:
        ev = self.evaluation
        return {**ev.candidate.to_dict(), "replicas": ev.replicas, "total_gpus": ev.total_gpus,
                "price_per_gpu_hour": self.price_per_gpu_hour, "cost_per_hour": round(self.cost_per_hour, 4),
                "cost_per_million_output_tokens": round(self.cost_per_mtok, 4),
                "output_tokens_per_s": round(self.output_tokens_per_s, 2),
                "output_throughput_per_gpu": round(self.throughput_per_gpu, 2), "pareto": self.pareto,
                "per_replica_metrics": {k: v for k, v in ev.metrics.items() if isinstance(v, (int, float))},
                "predictions": ev.predictions}


def served_tokens_per_s(ev: Evaluation, traffic: Traffic) -> float:
    """Output tokens/s of the whole plan: the arrival rate times the mean output length (open loop),
    or every replica's throughput (closed loop)."""
    m = ev.metrics
    if traffic.rate is not None:
        per_request = m["output_throughput"] / m["request_throughput"]
        return traffic.rate * per_request
    return m["output_throughput"] * ev.replicas


def price_plans(evaluations: list[Evaluation], traffic: Traffic, prices: dict[str, float]) -> list[Plan]:
    plans = []
    for ev in evaluations:
        if not ev.feasible:
            continue
        price = prices[ev.candidate.gpu]
        tokens = served_tokens_per_s(ev, traffic)
        per_hour = ev.total_gpus * price
        plans.append(Plan(ev, price, tokens, per_hour, per_hour / (tokens * 3600) * 1e6 if tokens else float("inf"),
                          tokens / ev.total_gpus))
    mark_pareto(plans)
    return plans


def mark_pareto(plans: list[Plan]) -> None:
    """A plan is on the front when no other is at least as cheap and as productive per GPU, and
    strictly better in one of the two."""
    for p in plans:
        p.pareto = not any(
            q.cost_per_mtok <= p.cost_per_mtok and q.throughput_per_gpu >= p.throughput_per_gpu
            and (q.cost_per_mtok < p.cost_per_mtok or q.throughput_per_gpu > p.throughput_per_gpu)
            for q in plans if q is not p)


def rank(plans: list[Plan], by: str = "cost") -> list[Plan]:
    """Cheapest first (``cost``) or most output per GPU first (``throughput``); ties go to fewer GPUs."""
    if by not in RANKINGS:
        raise ValueError(f"--rank must be one of: {', '.join(RANKINGS)} (got {by!r})")
    if by == "cost":
        key = lambda p: (p.cost_per_mtok, -p.throughput_per_gpu, p.evaluation.total_gpus)  # noqa: E731
    else:
        key = lambda p: (-p.throughput_per_gpu, p.cost_per_mtok, p.evaluation.total_gpus)  # noqa: E731
    return sorted(plans, key=key)
