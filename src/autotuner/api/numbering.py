"""Experiments by their number within the task (``#1`` ran first), as the report and the CLI number them.

Database ids run across tasks, so the pages show this number instead. It is the rank of the id
among the task's ids; a task only ever gains experiments, so the ranks are kept per task and only the
ids added since are read (one aggregate on the (task_id, id) index checks the cache is still whole).
"""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from ..store import ExperimentRow, Store

_lock = threading.Lock()
# (database, task id) -> (lowest id, highest id, {experiment id: number}); the dicts are only read once kept.
_known: dict[tuple[str, int], tuple[int, int, dict[int, int]]] = {}
MAX_TASKS_KEPT = 256


def experiment_numbers(store: Store, task_id: int) -> dict[int, int]:
    """Database id -> the experiment's number within its task (do not modify the mapping returned)."""
    key = (str(store.engine.url), task_id)
    ids = ExperimentRow.id
    in_task = ExperimentRow.task_id == task_id
    with store.session() as s:
        count, low, high = s.execute(select(func.count(), func.min(ids), func.max(ids)).where(in_task)).one()
        with _lock:
            first, top, known = _known.get(key, (low, 0, {}))
        if first != low or top > (high or 0):
            first, top, known = low, 0, {}  # the task's rows were replaced (a deleted task's id reused)
        if len(known) == count:
            return known
        added = list(s.scalars(select(ids).where(in_task, ids > top).order_by(ids)))
        if len(known) + len(added) != count:  # an earlier id committed late (two workers): rank them all
            known, added = {}, list(s.scalars(select(ids).where(in_task).order_by(ids)))
    start = len(known)
    known = {**known, **{exp_id: start + i for i, exp_id in enumerate(added, start=1)}}
    with _lock:
        if len(_known) >= MAX_TASKS_KEPT and key not in _known:
            _known.pop(next(iter(_known)))
        _known[key] = (low, high, known)
    return known
