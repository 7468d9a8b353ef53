"""The results document (``results.json``, ``GET /api/tasks/{id}/results``) built from the store."""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

from ..engines import get_adapter
from ..engines.launch import engine_config
from ..jsonsafe import json_safe
from ..spec.task import Task
from ..store import ExperimentRow, Store
from ..store.store import as_datetime
from .gain import gain_noise


def launch_command(task: Task, params: dict[str, Any]) -> str:
    """A copy-ready command line that starts the real engine with this configuration."""
    from ..engines.models import ModelResolutionError

    adapter = get_adapter(task.engine)
    try:
        model = adapter.model_args(task.model.id, task.model.name)
    except ModelResolutionError:  # the model moved since the run: the command still names it
        model = ["--model", task.model.id]
    argv = adapter.executable() + model
    argv += adapter.flag_args(engine_config(task, params))
    if argv[0].endswith("python") or "python" in Path(argv[0]).name:
        argv[0] = "python"
    with_files = getattr(adapter, "command_with_files", None)  # TensorRT-LLM's extra-options YAML
    return with_files(shlex.join(argv), {**task.fixed_args, **params}) if with_files else shlex.join(argv)


def experiment_doc(exp: ExperimentRow, with_levels: bool = False) -> dict[str, Any]:
    doc = {
        "id": exp.id,
        "trial": exp.trial_number,
        "baseline": exp.baseline,
        "parameters": exp.params,
        "status": exp.status,
        "phase": exp.phase,
        "metrics": exp.metrics,
        "score": exp.score,
        "scores": exp.scores,
        "error": exp.error,
        "log": exp.log_path,
        "gpus": exp.gpus,
        "worker": exp.worker,
        "started_at": as_datetime(exp.started_at),
        "finished_at": as_datetime(exp.finished_at),
        "timings": (exp.extra or {}).get("timings", {}),
    }
    telemetry = (exp.extra or {}).get("telemetry") or {}
    if telemetry.get("summary"):
        doc["telemetry"] = telemetry["summary"]  # peak KV usage and queue next to the latencies
    if with_levels and telemetry.get("samples"):
        doc["telemetry_samples"] = telemetry["samples"]
    if (exp.extra or {}).get("spread"):
        doc["spread"] = exp.extra["spread"]  # objective over the first run and its repeats
        doc["mean_metrics"] = exp.extra.get("mean_metrics", {})
    if exp.predicted:
        doc["predicted"] = exp.predicted
    if with_levels:
        doc["levels"] = exp.levels
    return json_safe(doc)


def best_experiment(task: Task, experiments: list[ExperimentRow]) -> ExperimentRow | None:
    """The best feasible configuration measured, the engine's defaults (baseline) included: a
    recommendation is never worse than the defaults. Ties go to the earlier experiment (the baseline
    runs first), so an equal score keeps the defaults."""
    ok = [e for e in experiments if e.status == "succeeded" and e.score is not None and not math.isnan(e.score)]
    if not ok:
        return None
    sign = 1 if task.objective.maximize else -1
    return max(ok, key=lambda e: (sign * e.score, -e.id))


def pareto_front(task: Task, experiments: list[ExperimentRow]) -> list[ExperimentRow]:
    """Non-dominated feasible experiments over all objectives."""
    ok = [e for e in experiments if e.status == "succeeded" and e.scores and
          all(s is not None and not math.isnan(s) for s in e.scores)]
    signs = [1 if o.maximize else -1 for o in task.objectives]

    def dominates(a: ExperimentRow, b: ExperimentRow) -> bool:
        pa = [s * v for s, v in zip(signs, a.scores)]
        pb = [s * v for s, v in zip(signs, b.scores)]
        return all(x >= y for x, y in zip(pa, pb)) and any(x > y for x, y in zip(pa, pb))

    return [e for e in ok if not any(dominates(o, e) for o in ok if o is not e)]


def gain_over_baseline(task: Task, best: ExperimentRow, baseline: ExperimentRow | None) -> dict[str, Any]:
    if baseline is None or baseline.status not in ("succeeded", "infeasible") or not baseline.metrics:
        return {}
    gains = {}
    metrics = [o.metric for o in task.objectives] + [m for m in task.slo if m not in
                                                     [o.metric for o in task.objectives]]
    base_metrics = (baseline.extra or {}).get("mean_metrics") or baseline.metrics
    best_metrics = (best.extra or {}).get("mean_metrics") or best.metrics
    for m in metrics:
        b, v = base_metrics.get(m), best_metrics.get(m)
        if isinstance(b, int | float) and isinstance(v, int | float) and b and not math.isnan(b):
            gains[m] = {"baseline": b, "best": v, "change": (v - b) / abs(b)}
    for who, exp in (("baseline", baseline), ("best", best)):
        if (exp.extra or {}).get("spread"):
            gains.setdefault("_spread", {})[who] = exp.extra["spread"]
    return gains


def build_results(store: Store, task_id: int) -> dict[str, Any]:
    row = store.task(task_id)
    if row is None:
        raise KeyError(task_id)
    task = Task.model_validate(row.spec)
    experiments = store.experiments(task_id)
    best = best_experiment(task, experiments)
    baseline = next((e for e in experiments if e.baseline), None)
    doc: dict[str, Any] = {
        "task": row.spec,
        "status": row.status,
        "best": None,
        "baseline": experiment_doc(baseline) if baseline else None,
        "experiments": [experiment_doc(e) for e in experiments],
        "pareto": [experiment_doc(e) for e in pareto_front(task, experiments)] if len(task.objectives) > 1 else [],
    }
    if best is not None:
        doc["best"] = json_safe({"id": best.id, "parameters": best.params, "metrics": best.metrics,
                              "score": best.score, "baseline": best.baseline,
                              "command": launch_command(task, best.params),
                              "gain_over_baseline": gain_over_baseline(task, best, baseline),
                              **gain_noise(task, best, baseline)})  # spread, within_noise, marginal_slos
    from ..search.recalibrate import recalibration_block  # the twin's error before/after refitting it
    if (recalibration := recalibration_block(task, experiments)) is not None:
        doc["recalibration"] = json_safe(recalibration)
    return doc


def write_results(store: Store, task_id: int, out_dir: Path) -> Path:
    doc = build_results(store, task_id)
    path = Path(out_dir) / doc["task"]["name"] / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=str))
    return path
