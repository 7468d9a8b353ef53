"""The JSON documents the API returns, built from store rows."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..bench.metrics import metric_names
from ..report.figures import categorical
from ..report.gain import gain_summary
from ..report.results import experiment_doc, json_safe, gain_over_baseline, launch_command
from ..report.units import unit
from ..spec.task import Task
from ..store import ExperimentRow, Store, TaskRow
from . import queries
from .numbering import experiment_numbers

LOG_TAIL_BYTES = 64_000


def as_datetime(value: datetime | None) -> str | None:
    """ISO 8601 with the zone: SQLite returns naive datetimes of what was stored in UTC."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def task_summary(store: Store, row: TaskRow) -> dict[str, Any]:
    task = queries.parse_spec(row)
    best = queries.best_experiment(store, row.id, task) if task else None
    return json_safe({
        "id": row.id,
        "name": row.name,
        "status": row.status,
        "engine": task.engine if task else row.spec.get("engine"),
        "model": task.model.id if task else None,
        "strategy": task.search.strategy if task else None,
        "objective": ({"metric": task.objective.metric, "direction": task.objective.direction} if task else None),
        "progress": queries.task_progress(store, row, task),
        "best": ({"experiment": best.id, "score": best.score, "parameters": best.params} if best else None),
        "error": row.error,
        "cancel_requested": bool(row.cancel_requested),
        "worker": row.worker,
        "created_at": as_datetime(row.created_at),
        "started_at": as_datetime(row.started_at),
        "finished_at": as_datetime(row.finished_at),
    })


def metric_units(task: Task | None) -> dict[str, str]:
    """The on-screen unit of every metric the pages show (latencies in ms: the API keeps seconds)."""
    names = metric_names() + ([o.metric for o in task.objectives] if task else [])
    return {**{m: unit(m) for m in names}, "duration": "s"}  # a level's wall time, not a latency


def _gain(store: Store, task: Task, best: ExperimentRow) -> dict[str, Any] | None:
    q = select(ExperimentRow).where(ExperimentRow.task_id == best.task_id, ExperimentRow.baseline.is_(True)).limit(1)
    with store.session() as s:
        baseline = s.scalars(q).first()
    gains = gain_over_baseline(task, best, baseline)
    return gain_summary(task, {"best": {"gain_over_baseline": gains}}) if gains else None


def task_detail(store: Store, row: TaskRow) -> dict[str, Any]:
    doc = task_summary(store, row)
    task = queries.parse_spec(row)
    best_detail = None
    numbers = experiment_numbers(store, row.id)
    if doc["best"] and task:
        best = store.experiment(doc["best"]["experiment"])
        if best is not None:
            best_detail = {"id": best.id, "n": numbers.get(best.id), "parameters": best.params,
                           "metrics": best.metrics, "score": best.score, "baseline": best.baseline,
                           "command": launch_command(task, best.params), "gain": _gain(store, task, best)}
    current = [{"id": e.id, "n": numbers.get(e.id), "phase": e.phase, "parameters": e.params, "baseline": e.baseline,
                "started_at": as_datetime(e.started_at), "worker": e.worker} for e in queries.running_experiments(store, row.id)]
    doc.update({
        "spec": row.spec,
        "options": row.options or {},
        "slo": dict(task.slo) if task else {},
        "counts": queries.status_counts(store, row.id),
        "current": current,
        "best_detail": best_detail,
        "parameters": list(task.search.space) if task else [],
        "categories": {f: c for f in (task.search.space if task else {}) if (c := categorical(task, f))},
        "units": metric_units(task),
    })
    return json_safe(doc)


def experiment_detail(store: Store, exp: ExperimentRow, log_lines: int) -> dict[str, Any]:
    doc = experiment_doc(exp, with_levels=True)
    doc.update(task_id=exp.task_id, started_at=as_datetime(exp.started_at), finished_at=as_datetime(exp.finished_at))
    task_row = store.task(exp.task_id)
    task = queries.parse_spec(task_row) if task_row else None
    doc.update(n=experiment_numbers(store, exp.task_id).get(exp.id), task_name=task_row.name if task_row else None,
               units=metric_units(task), objective=task.objective.metric if task else None)
    path = experiment_log_path(exp)
    doc["log"] = str(path) if path else exp.log_path
    doc["log_tail"] = tail(path, log_lines) if path and log_lines > 0 else ""
    return doc


def experiment_log_path(exp: ExperimentRow) -> Path | None:
    """The engine log, where the deployer said it writes it (recorded when the experiment starts)."""
    return Path(exp.log_path) if exp.log_path and Path(exp.log_path).is_file() else None


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a text file, reading at most LOG_TAIL_BYTES from its end."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - LOG_TAIL_BYTES))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])
