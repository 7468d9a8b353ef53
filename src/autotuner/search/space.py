"""The search space as Optuna distributions, and its grid when it has one."""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: the task spec checks its strategy names against search.strategies;
    # Optuna is imported where it is used (`validate` needs only the grid helpers)
    from optuna.distributions import BaseDistribution

    from ..spec.task import NumberRange, SearchSpec


def _is_range(entry: list[Any] | NumberRange) -> bool:
    """A space entry is a list of values or a ``NumberRange`` (``spec.task.SpaceEntry``)."""
    return not isinstance(entry, list)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class SpaceCodec:
    """Engine flag values <-> Optuna parameters.

    A list of numbers is ordered: a model-based sampler must know that 0.82 lies next to 0.80, so
    it becomes an integer index (or the integers themselves when evenly spaced), not categories.
    """

    def __init__(self, space: dict[str, Any]):
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        self.space = space
        self.distributions: dict[str, BaseDistribution] = {}
        self._index_values: dict[str, list[Any]] = {}
        for name, entry in space.items():
            if _is_range(entry):
                if entry.is_integer:
                    self.distributions[name] = IntDistribution(int(entry.low), int(entry.high), log=entry.log,
                                                               step=int(entry.step or 1))
                else:
                    self.distributions[name] = FloatDistribution(entry.low, entry.high, log=entry.log,
                                                                 step=entry.step)
            elif len(entry) >= 3 and all(_is_number(v) for v in entry) and len(set(entry)) == len(entry):
                values = sorted(entry)
                steps = {b - a for a, b in zip(values, values[1:])}
                if all(isinstance(v, int) for v in values) and len(steps) == 1:
                    self.distributions[name] = IntDistribution(values[0], values[-1], step=steps.pop())
                else:
                    self._index_values[name] = values
                    self.distributions[name] = IntDistribution(0, len(values) - 1)
            else:
                self.distributions[name] = CategoricalDistribution(list(entry))

    def decode(self, params: dict[str, Any]) -> dict[str, Any]:
        return {k: (self._index_values[k][v] if k in self._index_values else v) for k, v in params.items()}

    def encode(self, params: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in params.items():
            if k in self._index_values:
                values = self._index_values[k]
                out[k] = min(range(len(values)), key=lambda i: abs(values[i] - v))
            else:
                out[k] = v
        return out

    def contains(self, params: dict[str, Any]) -> bool:
        """Is this configuration (engine values) a point of the space?"""
        if set(params) != set(self.distributions):
            return False
        from optuna.distributions import CategoricalDistribution

        encoded = self.encode(params)
        for k, v in params.items():
            dist = self.distributions[k]
            if k in self._index_values:
                if v not in self._index_values[k]:
                    return False
            elif isinstance(dist, CategoricalDistribution):
                # A value outside the listed choices (e.g. the engine's default when the user listed
                # only other values) is simply not a point of the space.
                if not any(v == c and type(v) is type(c) for c in dist.choices):
                    return False
            elif not _is_number(v) or not dist._contains(dist.to_internal_repr(encoded[k])):
                return False
        return True

    def grid(self) -> dict[str, list[Any]] | None:
        """Optuna-side grid values, for the grid sampler."""
        grid = grid_values(self.space)
        if grid is None:
            return None
        return {k: sorted({self.encode({k: v})[k] for v in vs}, key=lambda x: (str(type(x)), x))
                if k in self._index_values else vs for k, vs in grid.items()}


def distributions(space: dict[str, Any]) -> dict[str, BaseDistribution]:
    return SpaceCodec(space).distributions


def grid_values(space: dict[str, Any]) -> dict[str, list[Any]] | None:
    """Every flag's values when the whole space is discrete, else None."""
    grid: dict[str, list[Any]] = {}
    for name, entry in space.items():
        if _is_range(entry):
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
            if _is_range(entry) and entry.values() is None:
                problems.append(f"search.space.{name}: the grid strategy needs a list or a range with a step")
    return problems
