"""Sizes a valid task may have: GPUs, budget, load levels and the search space, each against a limit.

Checked right after the field types, before anything reads the sizes: ``gpus: 100000000`` would
otherwise become a list of 10^8 GPU ids, and a range of 10^20 integers a list of them. The space's
size is the product of its axes' sizes, each computed from low/high/step without listing values.
"""

from __future__ import annotations

import math
from typing import Any

from . import limits as L
from .dataset_check import dataset_problems
from .docker_options import docker_problems
from .task import NumberRange, Task


def _over(field: str, value: float, limit: float, what: str = "") -> list[str]:
    if value <= limit:
        return []
    return [f"{field}: {value:,} is over the limit of {limit:,}{what}"]


def axis_size(entry: Any) -> int | None:
    """How many values an axis has (None: a continuous range), without listing them.

    Raises ValueError for a range whose ends are not finite numbers."""
    if not isinstance(entry, NumberRange):
        return len(entry)
    if not (math.isfinite(entry.low) and math.isfinite(entry.high)):
        raise ValueError("low and high must be finite numbers")
    if entry.step is None:
        if entry.is_integer and not entry.log:
            return int(entry.high) - int(entry.low) + 1
        return None
    steps = (entry.high - entry.low) / entry.step
    if not math.isfinite(steps) or steps >= L.MAX_AXIS_VALUES:
        return L.MAX_AXIS_VALUES + 1  # too many either way; the exact count does not matter
    return math.floor(steps + 1e-9) + 1


def space_problems(task: Task) -> list[str]:
    space = task.search.space
    problems = _over("search.space", len(space), L.MAX_FLAGS, " flags")
    points, continuous = 1, False
    for flag, entry in space.items():
        try:
            size = axis_size(entry)
        except ValueError as e:
            problems.append(f"search.space.{flag}: {e}")
            continue
        if size is None:
            continuous = True
            continue
        if size > L.MAX_AXIS_VALUES:
            problems.append(f"search.space.{flag}: more than {L.MAX_AXIS_VALUES:,} values (the limit per flag); "
                            f"give it a larger step (or integer: false for a continuous range)")
            continue
        points = min(points * size, L.MAX_SPACE_POINTS + 1)  # the exact product may have 20 digits
    if problems:
        return problems
    if points > L.MAX_SPACE_POINTS:
        problems.append(f"search.space: more than {L.MAX_SPACE_POINTS:,} configurations (the limit); "
                        f"list fewer values per flag")
    elif task.search.strategy == "grid" and not continuous and points > L.MAX_GRID_POINTS:
        problems.append(f"search.space: {points:,} configurations is over the grid strategy's limit of "
                        f"{L.MAX_GRID_POINTS:,} (the grid lists them all); use strategy bayesian or random")
    return problems


def _gpu_problems(gpus: int | list[int]) -> list[str]:
    if isinstance(gpus, int):
        return _over("gpus", gpus, L.MAX_GPUS, " GPUs")
    problems = _over("gpus", len(gpus), L.MAX_GPUS, " GPUs")
    if not problems and max(gpus) > L.MAX_GPU_ID:
        problems.append(f"gpus: GPU id {max(gpus):,} is over the limit of {L.MAX_GPU_ID}")
    return problems


def _search_problems(task: Task) -> list[str]:
    s = task.search
    return (_over("search.max_experiments", s.max_experiments, L.MAX_EXPERIMENTS)
            + _over("search.parallel", s.parallel if isinstance(s.parallel, int) else 1, L.MAX_PARALLEL)
            + _over("search.repeats", s.repeats, L.MAX_REPEATS)
            + _over("search.top_k", s.top_k, L.MAX_TOP_K))


def _workload_problems(task: Task) -> list[str]:
    w = task.workload
    problems: list[str] = []
    for i, c in enumerate(w.concurrency):
        problems += _over(f"workload.concurrency[{i}]", c, L.MAX_CONCURRENCY, " concurrent requests")
    for i, r in enumerate(w.rates):
        if not math.isfinite(r):
            problems.append(f"workload.rates[{i}]: must be a finite number of requests/s")
        else:
            problems += _over(f"workload.rates[{i}]", r, L.MAX_RATE, " requests/s")
    levels = len(w.scenarios) * (len(w.concurrency) + len(w.rates))
    problems += _over("workload", levels, L.MAX_LEVELS, " load levels (scenarios x concurrency/rates)")
    if w.num_requests is not None:
        problems += _over("workload.num_requests", w.num_requests, L.MAX_NUM_REQUESTS)
    problems += _over("workload.warmup_requests", w.warmup_requests, L.MAX_WARMUP_REQUESTS)
    if w.duration is not None:
        if not math.isfinite(w.duration):
            problems.append("workload.duration: must be a finite number of seconds")
        else:
            problems += _over("workload.duration", w.duration, L.MAX_LEVEL_SECONDS, " seconds")
    return problems


def bound_problems(task: Task) -> list[str]:
    """Every limit the task exceeds, as "field.path: message" lines; empty when it fits."""
    return (_gpu_problems(task.gpus) + _search_problems(task) + space_problems(task)
            + _over("fixed_args", len(task.fixed_args), L.MAX_FLAGS, " flags")
            + _workload_problems(task) + docker_problems(task.docker) + dataset_problems(task.workload.dataset))
