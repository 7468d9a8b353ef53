"""Store: the project's single door to the database (SQLite by default, any SQLAlchemy URL)."""

from __future__ import annotations

import atexit
import json
import weakref
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import create_engine, delete, event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from ..jsonsafe import json_safe
from .keys import params_key
from .leases import ExperimentLeases
from .models import Base, EventRow, ExperimentRow, TaskRow, utcnow

DEFAULT_DB = "sqlite:///autotuner.db"


def _json_dumps(value: Any) -> str:
    return json.dumps(json_safe(value), default=str)


def normalize_url(url: str) -> str:
    if "://" not in url:  # a plain file path
        return f"sqlite:///{Path(url).resolve()}"
    return url


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers (web, SSE) never block the tuner
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()


_open_stores: weakref.WeakSet[Store] = weakref.WeakSet()


@atexit.register
def _checkpoint_open_stores() -> None:
    """A clean exit leaves no data only in the ``-wal`` file, whoever forgot to close their store."""
    for store in list(_open_stores):
        store.checkpoint()


class Store(ExperimentLeases):
    def __init__(self, url: str = DEFAULT_DB):
        self.url = normalize_url(url)
        if self.url.startswith("sqlite:///") and not self.in_memory:
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # JSON has no NaN/inf (PostgreSQL rejects them): they are stored as null.
        kwargs: dict[str, Any] = {"future": True, "json_serializer": _json_dumps}
        if self.url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            if self.in_memory:
                kwargs["poolclass"] = StaticPool  # one shared connection: each new one would be an empty DB
        else:
            kwargs["pool_pre_ping"] = True
        self.engine = create_engine(self.url, **kwargs)
        if self.url.startswith("sqlite"):
            _sqlite_pragmas(self.engine)
        Base.metadata.create_all(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        _open_stores.add(self)

    @property
    def in_memory(self) -> bool:
        return self.url in ("sqlite://", "sqlite:///:memory:")

    def session(self) -> Session:
        return self._session()

    # -- tasks -------------------------------------------------------------------------------
    def create_task(self, name: str, spec: dict, status: str = "pending", options: dict | None = None) -> TaskRow:
        with self.session() as s, s.begin():
            row = TaskRow(name=name, spec=spec, status=status, options=options or {})
            s.add(row)
        return row

    def task(self, task_id: int) -> TaskRow | None:
        with self.session() as s:
            return s.get(TaskRow, task_id)

    def task_by_name(self, name: str) -> TaskRow | None:
        with self.session() as s:
            return s.scalar(select(TaskRow).where(TaskRow.name == name))

    def tasks(self) -> list[TaskRow]:
        with self.session() as s:
            return list(s.scalars(select(TaskRow).order_by(TaskRow.id.desc())))

    def update_task(self, task_id: int, **fields: Any) -> None:
        with self.session() as s, s.begin():
            s.execute(update(TaskRow).where(TaskRow.id == task_id).values(**fields))

    def delete_task(self, task_id: int) -> None:
        with self.session() as s, s.begin():
            s.execute(delete(EventRow).where(EventRow.task_id == task_id))
            s.execute(delete(ExperimentRow).where(ExperimentRow.task_id == task_id))
            s.execute(delete(TaskRow).where(TaskRow.id == task_id))

    def claim_task(self, worker: str, lease_seconds: float) -> TaskRow | None:
        """Claim the oldest queued task, or one whose worker's lease expired (it resumes)."""
        now = utcnow()
        claimable = (TaskRow.status == "queued") | ((TaskRow.status == "running") & (TaskRow.lease_until < now))
        with self.session() as s, s.begin():
            q = select(TaskRow).where(claimable).order_by(TaskRow.id).limit(1)
            if s.bind.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            row = s.scalar(q)
            if row is None:
                return None
            # Compare-and-set: of two SQLite workers racing for one row, only one updates it.
            res = s.execute(update(TaskRow).where(TaskRow.id == row.id, claimable)
                            .values(status="running", worker=worker,
                                    lease_until=now + timedelta(seconds=lease_seconds),
                                    started_at=row.started_at or now)
                            .execution_options(synchronize_session=False))
            if res.rowcount != 1:
                return None
        return self.task(row.id)

    def renew_lease(self, task_id: int, worker: str, lease_seconds: float) -> bool:
        with self.session() as s, s.begin():
            res = s.execute(update(TaskRow).where(TaskRow.id == task_id, TaskRow.worker == worker)
                            .values(lease_until=utcnow() + timedelta(seconds=lease_seconds)))
            return res.rowcount == 1

    # -- experiments ------------------------------------------------------------------------
    def add_experiment(self, task_id: int, params: dict, trial_number: int | None = None,
                       baseline: bool = False, **fields: Any) -> ExperimentRow:
        with self.session() as s, s.begin():
            row = ExperimentRow(task_id=task_id, params=params, params_key=params_key(params),
                                trial_number=trial_number, baseline=baseline, **fields)
            s.add(row)
        return row

    def update_experiment(self, exp_id: int, **fields: Any) -> None:
        with self.session() as s, s.begin():
            s.execute(update(ExperimentRow).where(ExperimentRow.id == exp_id).values(**fields))

    def experiment(self, exp_id: int) -> ExperimentRow | None:
        with self.session() as s:
            return s.get(ExperimentRow, exp_id)

    def experiments(self, task_id: int, offset: int = 0, limit: int | None = None,
                    order_by: str = "id", descending: bool = False) -> list[ExperimentRow]:
        col = getattr(ExperimentRow, order_by, ExperimentRow.id)
        q = select(ExperimentRow).where(ExperimentRow.task_id == task_id)
        q = q.order_by(col.desc() if descending else col, ExperimentRow.id).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        with self.session() as s:
            return list(s.scalars(q))

    def count_experiments(self, task_id: int, statuses: Iterable[str] | None = None,
                          baseline: bool | None = None) -> int:
        q = select(func.count()).select_from(ExperimentRow).where(ExperimentRow.task_id == task_id)
        if baseline is not None:
            q = q.where(ExperimentRow.baseline == baseline)
        if statuses is not None:
            q = q.where(ExperimentRow.status.in_(list(statuses)))
        with self.session() as s:
            return int(s.scalar(q) or 0)

    # -- events ------------------------------------------------------------------------------
    def add_event(self, task_id: int, kind: str, data: dict | None = None) -> None:
        with self.session() as s, s.begin():
            s.add(EventRow(task_id=task_id, kind=kind, data=data or {}))

    def events(self, task_id: int, after_id: int = 0, limit: int = 500) -> list[EventRow]:
        with self.session() as s:
            return list(s.scalars(select(EventRow).where(EventRow.task_id == task_id, EventRow.id > after_id)
                                  .order_by(EventRow.id).limit(limit)))

    def checkpoint(self) -> bool:
        """Copy SQLite's write-ahead log into the database file and empty it, so the ``.db`` alone holds
        everything (a copy or backup of it is whole). True when the log is now empty; other databases
        have no such log. A reader still inside a transaction can keep part of it (False)."""
        if not self.url.startswith("sqlite") or self.in_memory:
            return True
        try:
            with self.engine.connect() as conn:
                busy, _pages, _moved = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        except SQLAlchemyError:  # a locked or vanished file: nothing more to do on the way out
            return False
        return busy == 0

    def dispose(self) -> None:
        """Close the store: checkpoint the log, then its connections."""
        self.checkpoint()
        self.engine.dispose()
        _open_stores.discard(self)

    close = dispose


def as_datetime(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
