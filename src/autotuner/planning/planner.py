"""A whole plan: check the request, generate candidates, evaluate them (in worker processes), price them.

Every input is checked before anything is simulated; a bad one raises ``PlanInputError`` naming the
option and the allowed values.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..bench.metrics import metric_names
from ..hardware.gpus import GPUS, get_gpu
from ..hardware.models import load_model
from ..spec.scenarios import parse_scenario
from .candidates import ENGINES, Candidate, generate
from .evaluate import Evaluation, Traffic, evaluate
from .prices import load_prices
from .ranking import Plan, price_plans, rank


class PlanInputError(ValueError):
    pass


@dataclass
class PlanRequest:
    model: str
    traffic: Traffic
    slo: dict[str, float]
    gpus: list[str]
    engines: list[str] = field(default_factory=lambda: list(ENGINES))
    prices_file: Path | None = None
    max_replicas: int = 64
    num_requests: int = 40
    seed: int = 0


@dataclass
class PlanResult:
    request: PlanRequest
    prices: dict[str, float]
    evaluations: list[Evaluation]
    plans: list[Plan]
    seconds: float

    def ranked(self, by: str = "cost") -> list[Plan]:
        return rank(self.plans, by)

    def to_dict(self, by: str = "cost") -> dict[str, Any]:
        req = self.request
        return {"model": req.model, "traffic": req.traffic.to_dict(), "slo": req.slo, "gpus": req.gpus,
                "engines": req.engines, "prices": {g: self.prices[g] for g in req.gpus}, "rank_by": by,
                "evaluated": len(self.evaluations), "feasible": len(self.plans), "seconds": round(self.seconds, 2),
                "ranked": [p.to_dict() for p in self.ranked(by)],
                "pareto": [p.to_dict() for p in rank([p for p in self.plans if p.pareto], "cost")],
                "infeasible": [{**e.candidate.to_dict(), "reason": e.reason}
                               for e in self.evaluations if not e.feasible]}


def check_request(req: PlanRequest) -> dict[str, float]:
    """Validates every input; returns the prices of the requested GPUs."""
    gpus = []
    for name in req.gpus:
        try:
            gpus.append(get_gpu(name).name)
        except ValueError as e:
            raise PlanInputError(f"--gpus: {e}") from e
    req.gpus = list(dict.fromkeys(gpus))
    if not req.gpus:
        raise PlanInputError(f"--gpus: name at least one of: {', '.join(GPUS)}")
    bad = [e for e in req.engines if e not in ENGINES]
    if bad or not req.engines:
        raise PlanInputError(f"--engines: {', '.join(bad) or 'none given'}; allowed: {', '.join(ENGINES)}")
    try:
        load_model(req.model)
    except ValueError as e:
        raise PlanInputError(f"--model: {e}") from e
    try:
        parse_scenario(req.traffic.scenario)
    except ValueError as e:
        raise PlanInputError(f"--scenario: {e}") from e
    t = req.traffic
    if (t.rate is None) == (t.concurrency is None):
        raise PlanInputError("give exactly one of --rate (requests/s) or --concurrency (users)")
    if t.rate is not None and not t.rate > 0:
        raise PlanInputError(f"--rate: must be > 0 requests/s, got {t.rate}")
    if t.concurrency is not None and t.concurrency < 1:
        raise PlanInputError(f"--concurrency: must be >= 1, got {t.concurrency}")
    for metric, limit in req.slo.items():
        if metric not in metric_names():
            raise PlanInputError(f"--slo: unknown metric {metric!r}; allowed: {', '.join(metric_names())}")
        if not limit > 0:
            raise PlanInputError(f"--slo: {metric} must be > 0, got {limit}")
    if req.max_replicas < 1:
        raise PlanInputError(f"--max-replicas: must be >= 1, got {req.max_replicas}")
    if req.num_requests < 10:
        raise PlanInputError(f"--requests: must be >= 10, got {req.num_requests}")
    try:
        prices = load_prices(req.prices_file)
    except ValueError as e:
        raise PlanInputError(str(e)) from e
    missing = [g for g in req.gpus if g not in prices]
    if missing:
        raise PlanInputError(f"--prices: no $/GPU-hour for {', '.join(missing)}; add it to the price file")
    return prices


def _evaluate_group(args: tuple[list[Candidate], PlanRequest]) -> list[Evaluation]:
    """Configurations that differ only in their engine flags, in turn: each starts its replica search
    from the count its predecessor needed, which is usually the answer or next to it."""
    cands, req = args
    out: list[Evaluation] = []
    hint = None
    for cand in cands:
        ev = evaluate(cand, req.model, req.traffic, req.slo, req.max_replicas, req.num_requests, req.seed,
                      hint=hint)
        out.append(ev)
        hint = ev.replicas or hint
    return out


def _groups(cands: list[Candidate]) -> list[list[int]]:
    """Indices of the candidates, grouped by GPU, engine and layout, in their order."""
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(cands):
        groups.setdefault((c.gpu, c.engine, c.tp, c.pp, c.dp), []).append(i)
    return list(groups.values())


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def make_plan(req: PlanRequest, workers: int = 1, on_progress: Callable[[int, int], None] | None = None,
              candidates: list[Candidate] | None = None) -> PlanResult:
    """Evaluates every candidate (``workers`` processes; 1 runs them here) and prices the feasible ones."""
    prices = check_request(req)
    cands = candidates if candidates is not None else generate(req.gpus, req.engines)
    t0 = time.monotonic()
    done: list[Evaluation | None] = [None] * len(cands)
    report = on_progress or (lambda _done, _total: None)
    groups, finished = _groups(cands), 0

    def keep(group: list[int], evaluations: list[Evaluation]) -> None:
        nonlocal finished
        for i, ev in zip(group, evaluations):
            done[i] = ev
        finished += len(group)
        report(finished, len(cands))

    if workers <= 1:
        for group in groups:
            keep(group, _evaluate_group(([cands[i] for i in group], req)))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_evaluate_group, ([cands[i] for i in group], req)): group for group in groups}
            for future in as_completed(futures):
                keep(futures[future], future.result())
    evaluations = [e for e in done if e is not None]
    return PlanResult(req, prices, evaluations, price_plans(evaluations, req.traffic, prices),
                      time.monotonic() - t0)
