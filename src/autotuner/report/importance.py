"""Which tuned flag mattered: Optuna's parameter importance over the measured experiments.

The task's own study may be shared, partial or gone; the importance is computed on a fresh
in-memory study holding every experiment with a measured objective, so it always matches the report.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import create_trial

from ..search.space import SpaceCodec
from ..spec.task import Task

# PED-ANOVA needs only numpy (fANOVA needs scikit-learn); a quarter of the trials count as "top",
# since a tuning run holds tens of trials, not the hundreds the default 10% assumes.
TOP_QUANTILE = 0.25
METHOD = f"PED-ANOVA (Optuna's PedAnovaImportanceEvaluator, top {TOP_QUANTILE:.0%} of trials vs all)"
MIN_TRIALS = 3  # fewer measured configurations say nothing about which flag mattered


def _measured(experiment: dict[str, Any]) -> float | None:
    score = experiment.get("score")
    if experiment.get("status") not in ("succeeded", "infeasible") or not isinstance(score, int | float):
        return None
    return None if math.isnan(score) or math.isinf(score) else float(score)


def param_importances(task: Task, experiments: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"method", "metric", "values": {flag: share}, "trials"}``, or ``{"note": why not}``.

    ``experiments`` are results documents (``experiment_doc``); the baseline counts when its
    defaults are a point of the space."""
    codec = SpaceCodec(task.search.space)
    dists: dict[str, BaseDistribution] = codec.distributions
    if not dists:
        return {"note": "the task tunes no flag"}
    trials = []
    for e in experiments:
        value = _measured(e)
        params = e.get("parameters") or {}
        if value is None or not codec.contains(params):
            continue
        trials.append(create_trial(params=codec.encode(params), distributions=dists, value=value))
    if len(trials) < MIN_TRIALS:
        return {"note": f"{len(trials)} measured configurations in the space: at least {MIN_TRIALS} are needed"}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if task.objective.maximize else "minimize")
    study.add_trials(trials)
    if len(dists) == 1:
        values = {next(iter(dists)): 1.0}
    else:
        try:
            values = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(target_quantile=TOP_QUANTILE))
        except (RuntimeError, ValueError) as e:  # e.g. every measured value the same
            return {"note": f"importance not computable: {e}"}
    return {"method": METHOD, "metric": task.objective.metric, "trials": len(trials),
            "values": {k: float(v) for k, v in values.items()}}
