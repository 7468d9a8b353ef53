"""Read queries the API needs beyond the Store: progress, best so far, sorted experiment pages."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Float, case, cast, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import defer

from ..bench.metrics import metric_names
from ..store.models import FINISHED
from ..spec.task import Task
from ..store import ExperimentRow, Store, TaskRow

ACTIVE = ("queued", "running")
TERMINAL = ("succeeded", "failed", "cancelled")
# Experiment columns the experiments list can be sorted by (besides metrics and parameters).
SORT_COLUMNS = {
    "id": ExperimentRow.id,
    "trial": ExperimentRow.trial_number,
    "status": ExperimentRow.status,
    "score": ExperimentRow.score,
    "started_at": ExperimentRow.started_at,
    "finished_at": ExperimentRow.finished_at,
    "baseline": ExperimentRow.baseline,
}


NOT_NULL_SORTS = ("id", "status", "baseline")


def sort_keys_help() -> str:
    return (f"{', '.join(SORT_COLUMNS)}, any metric ({', '.join(metric_names()[:3])}, ...) "
            f"or a parameter as params.NAME")


def _json_number(store: Store, column, key: str):
    """A numeric value inside a JSON column, NULL when absent (or unreadable: NaN on old SQLite)."""
    if store.engine.dialect.name == "sqlite":
        path = '$."' + key.replace('"', '') + '"'
        # Python writes NaN/Infinity into JSON, which SQLite before 3.42 rejects: read such documents
        # with those tokens spelled as JSON (null, 1e999), and as NULL if still unreadable.
        fixed = func.replace(func.replace(column, "NaN", "null"), "Infinity", "1e999")
        return case((func.json_valid(column) == 1, cast(func.json_extract(column, path), Float)),
                    (func.json_valid(fixed) == 1, cast(func.json_extract(fixed, path), Float)), else_=None)
    return column[key].as_float()


def _json_value(store: Store, column, key: str):
    """A parameter value (number or text) in its natural order."""
    if store.engine.dialect.name == "sqlite":
        path = '$."' + key.replace('"', '') + '"'
        return case((func.json_valid(column) == 1, func.json_extract(column, path)), else_=None)
    if store.engine.dialect.name == "postgresql":
        return cast(column, JSONB)[key]  # jsonb orders numbers numerically, strings after numbers
    return column[key].as_string()


def sort_expression(store: Store, sort: str):
    """The ORDER BY expression for a sort key, or ValueError naming the allowed keys."""
    if sort in SORT_COLUMNS:
        return SORT_COLUMNS[sort]
    if sort in metric_names():
        return _json_number(store, ExperimentRow.metrics, sort)
    if sort.startswith("params.") and len(sort) > len("params."):
        return _json_value(store, ExperimentRow.params, sort.removeprefix("params."))
    raise ValueError(f"unknown sort key {sort!r}; allowed: {sort_keys_help()}")


def experiments_page(store: Store, task_id: int, offset: int, limit: int, sort: str = "id",
                     order: str = "asc", status: str | None = None) -> tuple[int, list[ExperimentRow]]:
    expr = sort_expression(store, sort)
    where = [ExperimentRow.task_id == task_id]
    if status:
        where.append(ExperimentRow.status == status)
    ordered = expr.desc() if order == "desc" else expr.asc()
    # NULLs (a missing metric) last whichever the direction; the id keeps pages stable. Columns that
    # are never NULL skip that term, so the (task_id, id) index serves the default order.
    keys = [ordered] if sort in NOT_NULL_SORTS else [expr.is_(None), ordered]
    if sort != "id":
        keys.append(ExperimentRow.id)
    # Sort the ids only, then load that page's rows: sorting whole rows (JSON documents) is slow.
    page_ids = select(ExperimentRow.id).where(*where).order_by(*keys).offset(offset).limit(limit)
    with store.session() as s:
        total = int(s.scalar(select(func.count()).select_from(ExperimentRow).where(*where)) or 0)
        ids = list(s.scalars(page_ids))
        found = {r.id: r for r in s.scalars(select(ExperimentRow).where(ExperimentRow.id.in_(ids))
                                            .options(defer(ExperimentRow.levels)))}
    return total, [found[i] for i in ids if i in found]


def best_experiment(store: Store, task_id: int, task: Task) -> ExperimentRow | None:
    """The best succeeded experiment (lowest id on ties), as in results.json."""
    score = ExperimentRow.score.desc() if task.objective.maximize else ExperimentRow.score.asc()
    q = (select(ExperimentRow).options(defer(ExperimentRow.levels))
         .where(ExperimentRow.task_id == task_id, ExperimentRow.status == "succeeded",
                ExperimentRow.score.is_not(None))
         .order_by(score, ExperimentRow.id).limit(1))
    with store.session() as s:
        for row in s.scalars(q):
            if row.score is not None and not math.isnan(row.score):
                return row
    return None


def status_counts(store: Store, task_id: int) -> dict[str, int]:
    q = (select(ExperimentRow.status, func.count()).where(ExperimentRow.task_id == task_id)
         .group_by(ExperimentRow.status))
    with store.session() as s:
        return {status: int(n) for status, n in s.execute(q)}


def finished_count(store: Store, task_id: int) -> int:
    """Experiments that count against the budget (as the tuner counts them)."""
    return store.count_experiments(task_id, FINISHED, baseline=False)


def running_experiments(store: Store, task_id: int) -> list[ExperimentRow]:
    q = (select(ExperimentRow).options(defer(ExperimentRow.levels))
         .where(ExperimentRow.task_id == task_id, ExperimentRow.status == "running").order_by(ExperimentRow.id))
    with store.session() as s:
        return list(s.scalars(q))


def task_page(store: Store, offset: int, limit: int, status: str | None = None) -> tuple[int, list[TaskRow]]:
    where = [TaskRow.status == status] if status else []
    with store.session() as s:
        total = int(s.scalar(select(func.count()).select_from(TaskRow).where(*where)) or 0)
        rows = list(s.scalars(select(TaskRow).where(*where).order_by(TaskRow.id.desc()).offset(offset).limit(limit)))
    return total, rows


def parse_spec(row: TaskRow) -> Task | None:
    """The stored spec as a Task; None when it no longer validates (an older schema)."""
    try:
        return Task.model_validate(row.spec)
    except Exception:  # noqa: BLE001 - a stored task must still be listable
        return None


def task_progress(store: Store, row: TaskRow, task: Task | None) -> dict[str, Any]:
    budget = task.search.max_experiments if task else None
    done = finished_count(store, row.id)
    return {"finished": done, "budget": budget,
            "fraction": (min(done / budget, 1.0) if budget else None)}


def transition(store: Store, task_id: int, from_statuses: tuple[str, ...], **values: Any) -> bool:
    """Compare-and-set a task's row: applied only while its status is one of ``from_statuses``."""
    with store.session() as s, s.begin():
        res = s.execute(update(TaskRow).where(TaskRow.id == task_id, TaskRow.status.in_(from_statuses))
                        .values(**values))
        return res.rowcount == 1
