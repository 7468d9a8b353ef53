"""The search space as Optuna distributions, and its grid when it has one."""

from __future__ import annotations

import itertools
import math
from typing import Any

from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)

from ..spec.task import NumberRange, SearchSpec


def distributions(space: dict[str, Any]) -> dict[str, BaseDistribution]:
    out: dict[str, BaseDistribution] = {}
    for name, entry in space.items():
        if isinstance(entry, NumberRange):
            if entry.is_integer:
                out[name] = IntDistribution(int(entry.low), int(entry.high), log=entry.log,
                                            step=int(entry.step or 1))
            else:
                out[name] = FloatDistribution(entry.low, entry.high, log=entry.log, step=entry.step)
        else:
            out[name] = CategoricalDistribution(list(entry))
    return out


def grid_values(space: dict[str, Any]) -> dict[str, list[Any]] | None:
    """Every flag's values when the whole space is discrete, else None."""
    grid: dict[str, list[Any]] = {}
    for name, entry in space.items():
        if isinstance(entry, NumberRange):
            values = entry.values()
            if values is None:
                return None
            grid[name] = values
        else:
            grid[name] = list(entry)
    return grid


def grid_size(space: dict[str, Any]) -> float:
    grid = grid_values(space)
    return math.inf if grid is None else math.prod(len(v) for v in grid.values())


def all_configurations(space: dict[str, Any]) -> list[dict[str, Any]]:
    grid = grid_values(space)
    if grid is None:
        raise ValueError("the space has a continuous range; give it a step to enumerate it")
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def check_strategy(search: SearchSpec) -> list[str]:
    """Problems that make the strategy unusable with this space (reported as spec errors)."""
    problems = []
    if search.strategy == "grid":
        for name, entry in search.space.items():
            if isinstance(entry, NumberRange) and entry.values() is None:
                problems.append(f"search.space.{name}: the grid strategy needs a list or a range with a step")
    return problems
