"""From per-level measurements to one set of metrics, feasibility and the objective value(s)."""

from __future__ import annotations

import math
from typing import Any

from ..bench.metrics import meets_slo
from ..spec.task import Objective, Task


def _objective_key(objective: Objective):
    sign = 1.0 if objective.maximize else -1.0
    return lambda m: sign * _num(m.get(objective.metric))


def _num(v: Any) -> float:
    return -math.inf if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def select_metrics(task: Task, levels: list[dict]) -> dict[str, float]:
    """One metrics dict for an experiment, by ``workload.select``.

    ``best_feasible`` (default): per scenario, the level that meets every SLO with the best
    objective (when none does, the lowest load level, which shows by how much it misses); then
    the mean over scenarios. ``mean``: mean over all levels. ``last``: the highest load level.
    The chosen level(s) are named in ``selected_level``.
    """
    if not levels:
        return {}
    mode = task.workload.select
    if mode == "last":
        chosen = [levels[-1]]
    elif mode == "mean":
        chosen = levels
    else:
        chosen = []
        by_scenario: dict[str, list[dict]] = {}
        for lv in levels:
            by_scenario.setdefault(lv["scenario"], []).append(lv)
        key = _objective_key(task.objective)
        for group in by_scenario.values():
            feasible = [lv for lv in group if meets_slo(lv["metrics"], task.slo)]
            lowest = min(group, key=lambda lv: (lv.get("concurrency") or 0, lv.get("rate") or 0))  # any run order
            chosen.append(max(feasible, key=lambda lv: key(lv["metrics"])) if feasible else lowest)
    metrics = _mean([lv["metrics"] for lv in chosen])
    metrics["selected_level"] = "; ".join(_label(lv) for lv in chosen)  # type: ignore[assignment]
    return metrics


def _label(level: dict) -> str:
    load = f"c={level['concurrency']}" if level.get("concurrency") is not None else f"rate={level['rate']}"
    return f"{level['scenario']} {load}"


def _mean(dicts: list[dict[str, float]]) -> dict[str, float]:
    keys = [k for k in dicts[0] if isinstance(dicts[0][k], int | float)]
    out = {}
    for k in keys:
        vals = [d[k] for d in dicts if isinstance(d.get(k), int | float) and not math.isnan(d[k])]
        out[k] = sum(vals) / len(vals) if vals else math.nan
    return out


def objective_values(task: Task, metrics: dict[str, float]) -> list[float]:
    """Objective values; NaN where unmeasured (stored NaN comes back from the database as null)."""
    out = []
    for o in task.objectives:
        v = metrics.get(o.metric)
        out.append(math.nan if v is None else float(v))
    return out


def failure_values(task: Task) -> list[float]:
    """What a configuration that serves nothing achieves: zero of a rate, unbounded latency."""
    return [0.0 if o.maximize else math.inf for o in task.objectives]


def is_feasible(task: Task, metrics: dict[str, float]) -> bool:
    return all(v <= 0 for v in task.slo_violations(metrics).values())


def better(task: Task, a: float | None, b: float | None) -> bool:
    """Is score ``a`` better than ``b`` for the (first) objective?"""
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return False
    if b is None:
        return True
    return a > b if task.objective.maximize else a < b
