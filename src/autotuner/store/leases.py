"""Experiment leases: several tuners (worker processes, maybe on several machines) share one task.

A tuner reserves each experiment in one transaction that first locks the task's row, so the budget
check, the duplicate check and the insert cannot interleave with another tuner's. The tuner renews
the leases of the experiments it runs; an experiment whose lease expired belongs to a tuner that
died, and the first tuner to notice takes it back (compare-and-set) and runs it again.
Leases compare wall clocks: the machines sharing a database are assumed NTP-synchronised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update

from .keys import params_key
from .models import ACTIVE, FINISHED, ExperimentRow, TaskRow, utcnow

if TYPE_CHECKING:
    from .store import Store


def active_clause(now: datetime) -> ColumnElement[bool]:
    """Rows some live tuner is running (an unleased row is a single tuner's, alive by definition)."""
    return and_(ExperimentRow.status.in_(ACTIVE),
                or_(ExperimentRow.lease_until.is_(None), ExperimentRow.lease_until >= now))


@dataclass
class Reservation:
    row: ExperimentRow | None = None  # reserved for us: run it
    recorded: ExperimentRow | None = None  # measured before: tell the sampler its outcome
    running_elsewhere: bool = False  # another tuner runs the same configuration now
    budget_spent: bool = False


class ExperimentLeases:
    """Mixed into ``Store``."""

    def reserve_experiment(self: "Store", task_id: int, params: dict, trial_number: int | None, worker: str,
                           lease_seconds: float, budget: int | None, baseline: bool = False,
                           **fields: Any) -> Reservation:
        key, now = params_key(params), utcnow()
        with self.session() as s, s.begin():
            # Writing the task row first serialises reservations of one task: a row lock on
            # PostgreSQL, the database write lock on SQLite.
            s.execute(update(TaskRow).where(TaskRow.id == task_id).values(id=TaskRow.id))
            same = select(ExperimentRow).where(ExperimentRow.task_id == task_id, ExperimentRow.params_key == key,
                                               ExperimentRow.baseline == baseline)
            recorded = s.scalar(same.where(ExperimentRow.status.notin_(["interrupted", *ACTIVE]))
                                .order_by(ExperimentRow.id))
            if recorded is not None:
                return Reservation(recorded=recorded)
            if s.scalar(same.where(active_clause(now)).limit(1)) is not None:
                return Reservation(running_elsewhere=True)
            if budget is not None:
                used = s.scalar(select(func.count()).select_from(ExperimentRow).where(
                    ExperimentRow.task_id == task_id, ExperimentRow.baseline == baseline,
                    ExperimentRow.status.in_(FINISHED) | active_clause(now)))
                if int(used or 0) >= budget:
                    return Reservation(budget_spent=True)
            row = ExperimentRow(task_id=task_id, params=params, params_key=key, trial_number=trial_number,
                                baseline=baseline, worker=worker,
                                lease_until=now + timedelta(seconds=lease_seconds), **fields)
            s.add(row)
        return Reservation(row=row)

    def budget_state(self: "Store", task_id: int) -> tuple[int, int]:
        """(finished, running now) experiments of the search, every tuner counted."""
        now = utcnow()
        base = select(func.count()).select_from(ExperimentRow).where(
            ExperimentRow.task_id == task_id, ExperimentRow.baseline.is_(False))
        with self.session() as s:
            finished = s.scalar(base.where(ExperimentRow.status.in_(FINISHED)))
            active = s.scalar(base.where(active_clause(now)))
        return int(finished or 0), int(active or 0)

    def renew_experiment_leases(self: "Store", exp_ids: list[int], worker: str, lease_seconds: float) -> int:
        if not exp_ids:
            return 0
        with self.session() as s, s.begin():
            res = s.execute(update(ExperimentRow).where(
                ExperimentRow.id.in_(exp_ids), ExperimentRow.worker == worker, ExperimentRow.status.in_(ACTIVE))
                .values(lease_until=utcnow() + timedelta(seconds=lease_seconds)))
            return res.rowcount

    def finish_experiment(self: "Store", exp_id: int, worker: str, **fields: Any) -> bool:
        """Record an outcome, only while the experiment is still this worker's to record."""
        with self.session() as s, s.begin():
            res = s.execute(update(ExperimentRow).where(
                ExperimentRow.id == exp_id, ExperimentRow.status.in_(ACTIVE),
                or_(ExperimentRow.worker.is_(None), ExperimentRow.worker == worker))
                .values(**fields).execution_options(synchronize_session=False))
            return res.rowcount == 1

    def expired_experiments(self: "Store", task_id: int) -> list[ExperimentRow]:
        with self.session() as s:
            return list(s.scalars(select(ExperimentRow).where(
                ExperimentRow.task_id == task_id, ExperimentRow.status.in_(ACTIVE),
                ExperimentRow.lease_until < utcnow()).order_by(ExperimentRow.id)))

    def take_back(self: "Store", exp: ExperimentRow, error: str) -> bool:
        """Mark an expired experiment interrupted; True for the one tuner whose update won."""
        with self.session() as s, s.begin():
            res = s.execute(update(ExperimentRow).where(
                ExperimentRow.id == exp.id, ExperimentRow.status.in_(ACTIVE), ExperimentRow.lease_until < utcnow())
                .values(status="interrupted", finished_at=utcnow(), phase=None, error=error,
                        extra={**exp.extra, "requeued": True})
                .execution_options(synchronize_session=False))
            return res.rowcount == 1

    def joinable_tasks(self: "Store", worker: str) -> list[TaskRow]:
        """Running tasks another live worker owns, whose budget is not all taken: a worker with
        nothing queued helps with them."""
        now = utcnow()
        with self.session() as s:
            rows = list(s.scalars(select(TaskRow).where(
                TaskRow.status == "running", TaskRow.lease_until >= now, TaskRow.worker != worker,
                TaskRow.cancel_requested.is_(False)).order_by(TaskRow.id)))
        out = []
        for row in rows:
            budget = int(row.spec.get("search", {}).get("max_experiments", 0) or 0)
            finished, active = self.budget_state(row.id)
            if finished + active < budget:
                out.append(row)
        return out
