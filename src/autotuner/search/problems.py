"""What is wrong with a task that can be known before deploying, cheap to import (no Optuna, no
database, no deployer): `autotuner validate` and the refusal of a bad `run` need nothing more."""

from __future__ import annotations

from ..engines.preflight import flag_problems
from ..spec.task import Task
from .space import check_strategy


def task_problems(task: Task) -> list[str]:
    """Everything wrong with a task that can be known before deploying: strategy, engine flags, and
    whether its benchmark runner fits its deployment."""
    from ..deploy.kubernetes.benchmark_job import benchmark_problems
    return check_strategy(task.search) + flag_problems(task) + benchmark_problems(task)
