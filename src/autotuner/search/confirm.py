"""Confirmation under noise: the top configurations (and the baseline) run again; the best is chosen
on the mean, and the spread is reported. And the best of a screened search (early stopping skipped
some of its levels) runs once more in full, with the real weights when the search ran on random ones."""

from __future__ import annotations

import statistics

from ..spec.task import Task
from ..store import ExperimentRow, Store
from ..store.models import utcnow
from . import fast_start
from .experiment import ExperimentExecutor, experiment_name
from .fidelity import informative
from .scoring import is_feasible, objective_values, select_metrics


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


def confirm_full(task: Task, store: Store, task_id: int, executor: ExperimentExecutor) -> None:
    """The best experiment, when early stopping skipped some of its levels, runs once more with every
    level; that full measurement becomes its record (score, levels, feasibility). With random weights
    that run is ``confirm_real_weights``'s."""
    if not informative(task) or executor.cancel.is_set() or fast_start.plan(task, getattr(executor.runner, 'simulate', None)).dummy_weights:
        return
    best = _best(task, store, task_id)
    if best is None or (best.extra or {}).get("early_stop") != "settled":
        return
    _measure_best(task, store, executor, best, "confirming (full benchmark)", "full", real_weights=False)


def confirm_real_weights(task: Task, store: Store, task_id: int, executor: ExperimentExecutor) -> None:
    """Experiments ran on random weights: the best runs once more with the real ones and every level,
    and that measurement becomes its record."""
    if executor.cancel.is_set() or not fast_start.plan(task, getattr(executor.runner, 'simulate', None)).dummy_weights:
        return
    best = _best(task, store, task_id)
    if best is not None:
        _measure_best(task, store, executor, best, "confirming (real weights, full benchmark)", "real",
                      real_weights=True)


def _best(task: Task, store: Store, task_id: int) -> ExperimentRow | None:
    sign = 1 if task.objective.maximize else -1
    done = [e for e in store.experiments(task_id) if e.status == "succeeded" and not e.baseline and e.score is not None]
    return max(done, key=lambda e: sign * e.score, default=None)


def _measure_best(task: Task, store: Store, executor: ExperimentExecutor, best: ExperimentRow, phase: str,
                  suffix: str, real_weights: bool) -> None:
    token = fast_start.REAL_WEIGHTS.set(real_weights)
    try:
        outcome = executor.rerun(best, phase, experiment_name(task.name, best.id, suffix))
    finally:
        fast_start.REAL_WEIGHTS.reset(token)
    if outcome is None or not outcome.ok:
        executor.events.emit("experiment_confirmed", best.id, full=False, real_weights=real_weights,
                             error=outcome.error if outcome is not None else "cancelled")
        return
    metrics = select_metrics(task, outcome.levels)
    values = objective_values(task, metrics)
    fields: dict = {"levels": outcome.levels, "metrics": metrics, "score": values[0], "scores": values,
                    "extra": {**best.extra, "full_confirmation": {"screened_score": best.score,
                                                                 "screened_levels": len(best.levels or []),
                                                                 **({"real_weights": True} if real_weights else {})}}}
    if not is_feasible(task, metrics):
        fields.update(status="infeasible", error="SLO not met on the full confirmation benchmark"
                      + (" with the real weights" if real_weights else ""))
    store.update_experiment(best.id, **fields)
    executor.events.emit("experiment_confirmed", best.id, full=True, score=values[0], real_weights=real_weights)


__all__ = ["confirm_full", "confirm_real_weights", "confirm_top"]
