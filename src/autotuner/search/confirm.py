"""Confirmation under noise: the top configurations (and the baseline) run again; the best is chosen
on the mean, and the spread is reported."""

from __future__ import annotations

import statistics

from ..spec.task import Task
from ..store import ExperimentRow, Store
from ..store.models import utcnow
from .experiment import ExperimentExecutor
from .scoring import is_feasible, objective_values


def confirm_top(task: Task, store: Store, task_id: int, executor: ExperimentExecutor) -> None:
    repeats = task.search.repeats
    if repeats <= 1:
        return
    exps = store.experiments(task_id)
    sign = 1 if task.objective.maximize else -1
    ranked = sorted((e for e in exps if e.status == "succeeded" and not e.baseline and e.score is not None),
                    key=lambda e: sign * e.score, reverse=True)
    targets = ranked[:max(task.search.top_k, 1)] + [e for e in exps if e.baseline and e.metrics]
    for exp in targets:
        runs = list(exp.extra.get("repeats", []))
        while len(runs) < repeats - 1 and not executor.cancel.is_set():
            metrics = executor.measure_again(exp, len(runs) + 1)
            if metrics is None:
                break
            runs.append(metrics)
            store.update_experiment(exp.id, extra={**exp.extra, "repeats": runs})
            exp.extra = {**exp.extra, "repeats": runs}
        _summarize(task, store, executor, exp, runs)


def _summarize(task: Task, store: Store, executor: ExperimentExecutor, exp: ExperimentRow, runs: list[dict]) -> None:
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
    store.update_experiment(exp.id, **fields)
    executor.events.emit("experiment_confirmed", exp.id, spread=spread)


__all__ = ["confirm_top"]
