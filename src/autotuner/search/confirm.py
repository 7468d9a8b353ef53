"""Confirmation under noise: the top configurations (and the baseline) run again; the best is chosen
on the mean, and the spread is reported."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from ..engines import get_adapter
from ..store.models import utcnow
from .scoring import is_feasible, objective_values, select_metrics

if TYPE_CHECKING:
    from .tuner import Tuner


def confirm_top(tuner: "Tuner") -> None:
    task, store = tuner.task, tuner.store
    repeats = task.search.repeats
    if repeats <= 1:
        return
    exps = store.experiments(tuner.task_id)
    sign = 1 if task.objective.maximize else -1
    ranked = sorted((e for e in exps if e.status == "succeeded" and not e.baseline and e.score is not None),
                    key=lambda e: sign * e.score, reverse=True)
    targets = ranked[:max(task.search.top_k, 1)] + [e for e in exps if e.baseline and e.metrics]
    for exp in targets:
        runs = list(exp.extra.get("repeats", []))
        while len(runs) < repeats - 1 and not tuner.cancel.is_set():
            metrics = _measure_again(tuner, exp, len(runs) + 1)
            if metrics is None:
                break
            runs.append(metrics)
            store.update_experiment(exp.id, extra={**exp.extra, "repeats": runs})
            exp.extra = {**exp.extra, "repeats": runs}
        _summarize(tuner, exp, runs)


def _measure_again(tuner: "Tuner", exp, index: int) -> dict | None:
    task = tuner.task
    need = get_adapter(task.engine).gpu_count({**task.fixed_args, **exp.params})
    gpus = tuner.pool.acquire(need, cancel=tuner.cancel)
    try:
        tuner._emit("experiment_phase", exp.id, phase=f"confirming (repeat {index})")
        outcome = tuner.runner.run(exp.params, gpus, f"{task.name}-exp{exp.id}-repeat{index}",
                                   lambda _p: None, lambda _l: True, tuner.cancel)
    finally:
        tuner.pool.release(gpus)
    if not outcome.ok:
        return None
    return select_metrics(task, outcome.levels)


def _summarize(tuner: "Tuner", exp, runs: list[dict]) -> None:
    task = tuner.task
    all_runs = [exp.metrics] + runs
    values = [objective_values(task, m)[0] for m in all_runs]
    mean = statistics.fmean(values)
    spread = {"n": len(values), "mean": mean, "min": min(values), "max": max(values),
              "stdev": statistics.stdev(values) if len(values) > 1 else 0.0}
    mean_metrics = {k: statistics.fmean(m[k] for m in all_runs if isinstance(m.get(k), int | float))
                    for k, v in exp.metrics.items() if isinstance(v, int | float)}
    feasible = is_feasible(task, mean_metrics)
    fields = {"extra": {**exp.extra, "repeats": runs, "spread": spread, "mean_metrics": mean_metrics},
              "score": mean, "finished_at": utcnow()}
    if not exp.baseline and not feasible:
        fields["status"] = "infeasible"
        fields["error"] = "SLO not met on the mean of the confirmation runs"
    tuner.store.update_experiment(exp.id, **fields)
    tuner._emit("experiment_confirmed", exp.id, spread=spread)


__all__ = ["confirm_top"]
