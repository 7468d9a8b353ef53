"""Persistence: tasks, experiments and events in one SQLAlchemy database (Optuna's study too)."""

from .keys import params_key
from .models import EXPERIMENT_STATUSES, TASK_STATUSES, EventRow, ExperimentRow, TaskRow
from .store import DEFAULT_DB, Store

__all__ = ["Store", "DEFAULT_DB", "params_key", "TaskRow", "ExperimentRow", "EventRow",
           "TASK_STATUSES", "EXPERIMENT_STATUSES"]
