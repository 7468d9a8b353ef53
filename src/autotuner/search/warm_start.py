"""Warm starts: seed a study before the first real experiment.

- ``search.prior: simulate``: the virtual-time twin evaluates the space (or a large sample of it);
  its best feasible candidates are enqueued, and every real experiment keeps the twin's prediction.
- ``search.warm_start: TASK``: the finished experiments of an earlier task become completed trials.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import optuna

from ..engines import get_adapter
from ..engines.launch import engine_config
from ..spec.task import Task
from ..store import Store, params_key
from .runners import VirtualRunner
from .scoring import failure_values, is_feasible, objective_values, select_metrics
from .space import SpaceCodec, all_configurations, grid_size

MAX_PRIOR_CONFIGS = 2000


@dataclass
class Prediction:
    params: dict[str, Any]
    metrics: dict[str, float]
    feasible: bool
    failed: str | None = None

    @property
    def score(self) -> float | None:
        return None if self.failed else self.metrics.get("_score")


def candidate_configurations(task: Task, limit: int = MAX_PRIOR_CONFIGS) -> list[dict[str, Any]]:
    if grid_size(task.search.space) <= limit:
        return all_configurations(task.search.space)
    codec = SpaceCodec(task.search.space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=task.search.seed))
    seen, out = set(), []
    for _ in range(limit * 3):
        trial = study.ask(codec.distributions)
        study.tell(trial, 0.0)
        params = codec.decode(trial.params)
        key = params_key(params)
        if key not in seen:
            seen.add(key)
            out.append(params)
        if len(out) >= limit:
            break
    return out


def predict(task: Task, configs: list[dict[str, Any]], simulate: dict[str, Any]) -> dict[str, Prediction]:
    """The twin's verdict on each configuration, keyed by ``params_key``."""
    runner = VirtualRunner(task, get_adapter(task.engine), simulate, seed=task.search.seed)
    cancel = threading.Event()
    out: dict[str, Prediction] = {}
    for params in configs:
        need = get_adapter(task.engine).gpu_count(engine_config(task, params))
        if need > len(task.gpu_ids):
            out[params_key(params)] = Prediction(params, {}, False, failed="needs more GPUs than the task has")
            continue
        outcome = runner.run(params, list(range(need)), "prior", lambda _p: None, lambda _l: True, cancel)
        if not outcome.ok:
            out[params_key(params)] = Prediction(params, {}, False, failed=outcome.reason or "error")
            continue
        metrics = select_metrics(task, outcome.levels)
        values = objective_values(task, metrics)
        metrics["_score"] = values[0]
        out[params_key(params)] = Prediction(params, metrics, is_feasible(task, metrics))
    return out


def top_candidates(task: Task, predictions: dict[str, Prediction], k: int) -> list[Prediction]:
    feasible = [p for p in predictions.values() if p.feasible and p.score is not None and not math.isnan(p.score)]
    sign = 1 if task.objective.maximize else -1
    feasible.sort(key=lambda p: sign * p.score, reverse=True)
    return feasible[:k]


def prior_count(task: Task) -> int:
    """How many twin-ranked candidates to enqueue: a quarter of the budget, at least 2."""
    return max(2, task.search.max_experiments // 4)


def warm_start_from_task(study: optuna.Study, store: Store, task: Task, source_name: str,
                         codec: SpaceCodec) -> int:
    """Add an earlier task's finished experiments as completed trials; returns how many."""
    source = store.task_by_name(source_name)
    if source is None:
        raise ValueError(f"search.warm_start: no task named {source_name!r} in the database")
    added = 0
    for exp in store.experiments(source.id):
        if exp.baseline:
            continue
        params = {k: v for k, v in exp.params.items() if k in codec.distributions}
        trial = recorded_trial(task, codec, params, exp.status, exp.metrics)
        if trial is not None:
            study.add_trial(trial)
            added += 1
    return added


def recorded_trial(task: Task, codec: SpaceCodec, params: dict, status: str,
                   metrics: dict) -> optuna.trial.FrozenTrial | None:
    """A measured configuration as a completed Optuna trial (SLO misses and failed starts as
    constraints); None when it lies outside the space or has nothing to tell."""
    if status not in ("succeeded", "infeasible", "failed") or not codec.contains(params):
        return None
    if status == "failed":
        values, attrs = failure_values(task), {"constraints:deploy": 1.0, "constraints:known": 0.0}
    else:
        values = objective_values(task, metrics)
        attrs = {"constraints:deploy": 0.0, "constraints:known": 0.0}
        for metric, v in task.slo_violations(metrics).items():
            attrs[f"constraints:slo:{metric}"] = min(v, 10.0) if not math.isnan(v) else 10.0
    if any(isinstance(v, float) and math.isnan(v) for v in values):
        return None
    return optuna.trial.create_trial(params=codec.encode(params), distributions=codec.distributions,
                                     values=values, system_attrs=attrs)
