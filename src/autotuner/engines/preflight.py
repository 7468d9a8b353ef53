"""Checks of a task's engine flags before anything is deployed.

Every flag in ``fixed_args`` and in the search space is checked against the flag catalog of the
task's engine version (name, type, choices), and every parallel size in the space against the
GPUs the task has and the model's attention heads.
"""

from __future__ import annotations

from typing import Any

from ..spec.task import NumberRange, Task
from . import get_adapter
from .catalog import validate_flags


def _values(entry: Any) -> list[Any]:
    if isinstance(entry, NumberRange):
        grid = entry.values()
        return grid if grid is not None else [entry.low, entry.high]
    return list(entry)


def flag_problems(task: Task) -> list[str]:
    problems = validate_flags(task.engine, task.engine_version, task.fixed_args, "fixed_args")
    for flag, entry in task.search.space.items():
        for value in _values(entry):
            for p in validate_flags(task.engine, task.engine_version, {flag: value}, "search.space"):
                if p not in problems:
                    problems.append(p)
    return problems + parallel_problems(task)


def _attention_heads(model_id: str) -> int | None:
    try:
        from ..hardware.models import load_model
        return int(load_model(model_id).num_attention_heads)
    except Exception:  # a model the built-in table does not know: the engine will say
        return None


def parallel_problems(task: Task) -> list[str]:
    """A parallel size in the space that no experiment could run with, and why."""
    adapter = get_adapter(task.engine)
    gpus = len(task.gpu_ids)
    heads = None
    problems = []
    for flag, entry in task.search.space.items():
        canonical = next((axis for axis, names in adapter.parallel_flags.items()
                          if adapter.canonical({flag: 1}).keys() & set(names)), None)
        if canonical is None:
            continue
        for value in _values(entry):
            size = int(value)
            if size > gpus:
                problems.append(f"search.space.{flag}: {size} needs {size} GPUs but the task has {gpus} "
                                f"(gpus: {task.gpus!r})")
            elif canonical == "tp" and size > 1:
                heads = heads if heads is not None else _attention_heads(task.model.id)
                if heads and heads % size:
                    problems.append(f"search.space.{flag}: tensor parallel size {size} does not divide the "
                                    f"{heads} attention heads of {task.model.id}; use a divisor of {heads}")
                elif gpus % size and not heads:
                    problems.append(f"search.space.{flag}: tensor parallel size {size} does not divide the "
                                    f"task's {gpus} GPUs")
    return problems
