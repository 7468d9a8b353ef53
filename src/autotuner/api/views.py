"""The JSON documents the API returns, built from store rows."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..report.results import experiment_doc, json_safe, launch_command
from ..store import ExperimentRow, Store, TaskRow
from . import queries

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


def task_detail(store: Store, row: TaskRow) -> dict[str, Any]:
    doc = task_summary(store, row)
    task = queries.parse_spec(row)
    best_detail = None
    if doc["best"] and task:
        best = store.experiment(doc["best"]["experiment"])
        if best is not None:
            best_detail = {"id": best.id, "parameters": best.params, "metrics": best.metrics, "score": best.score,
                           "baseline": best.baseline, "command": launch_command(task, best.params)}
    current = [{"id": e.id, "phase": e.phase, "parameters": e.params, "baseline": e.baseline,
                "started_at": as_datetime(e.started_at), "worker": e.worker} for e in queries.running_experiments(store, row.id)]
    doc.update({
        "spec": row.spec,
        "options": row.options or {},
        "slo": dict(task.slo) if task else {},
        "counts": queries.status_counts(store, row.id),
        "current": current,
        "best_detail": best_detail,
        "parameters": list(task.search.space) if task else [],
    })
    return json_safe(doc)


def experiment_detail(store: Store, exp: ExperimentRow, log_lines: int) -> dict[str, Any]:
    doc = experiment_doc(exp, with_levels=True)
    doc.update(task_id=exp.task_id, started_at=as_datetime(exp.started_at), finished_at=as_datetime(exp.finished_at))
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
