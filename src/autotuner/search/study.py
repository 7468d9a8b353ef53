"""The task's Optuna study: its name, its storage (the task's own database), creating, loading and
deleting it. The one module outside the loop that speaks to Optuna's storage."""

from __future__ import annotations

import threading
import time

import optuna

from ..spec.task import Task
from ..store import Store
from .early_stop import make_pruner
from .strategies import make_sampler

optuna.logging.set_verbosity(optuna.logging.WARNING)
_prepared: set[str] = set()
_prepare_lock = threading.Lock()


def study_name(task_id: int) -> str:
    return f"autotuner-task-{task_id}"


def _engine_kwargs(url: str) -> dict:
    return {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {"pool_pre_ping": True}


def study_storage(store: Store) -> optuna.storages.BaseStorage:
    if store.in_memory:  # planning and benchmarks: nothing to keep, no disk traffic
        return optuna.storages.InMemoryStorage()
    return optuna.storages.RDBStorage(store.url, engine_kwargs=_engine_kwargs(store.url))


def open_study(task: Task, task_id: int, store: Store) -> optuna.Study:
    """The task's study, created on first use; every tuner of the task shares it."""
    directions = [o.direction for o in task.objectives]
    return optuna.create_study(storage=study_storage(store), study_name=study_name(task_id),
                               directions=directions, load_if_exists=True, pruner=make_pruner(task),
                               sampler=make_sampler(task.search, len(directions)))


def delete_study(store: Store, task_id: int) -> None:
    """Forget the task's trials (``--restart``, a deleted task); nothing to do when there are none."""
    try:
        optuna.delete_study(study_name=study_name(task_id), storage=store.url)
    except KeyError:
        pass


def prepare_storage(store: Store, attempts: int = 5) -> None:
    """Create Optuna's tables once, before any task runs: two tuners starting together on a fresh
    database would otherwise both try to create them, and one fails ("table already exists")."""
    with _prepare_lock:
        if store.url in _prepared:
            return
        for attempt in range(attempts):
            try:
                storage = optuna.storages.RDBStorage(store.url, engine_kwargs=_engine_kwargs(store.url))
                storage.engine.dispose()
                break
            except Exception:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
        _prepared.add(store.url)
