"""Optuna samplers for each strategy. No optimizer of our own: Optuna does the searching.

``STRATEGIES`` is the one list of strategies: name -> ``factory(search, n_objectives)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import optuna

from ..registry import Registry
from .space import SpaceCodec

if TYPE_CHECKING:  # a type only: the task spec checks its strategy against STRATEGIES
    from ..spec.task import SearchSpec

SamplerFactory = Callable[["SearchSpec", int], optuna.samplers.BaseSampler]
STRATEGIES: Registry[SamplerFactory] = Registry("strategy", "search.strategy")


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, for the ask/tell loop: the tuner stops on its own budget and on an
    exhausted space, so the sampler must not call ``study.stop()`` (only valid inside ``optimize``)."""

    def after_trial(self, study, trial, state, values) -> None:  # noqa: ANN001
        return None


def make_sampler(search: SearchSpec, n_objectives: int = 1) -> optuna.samplers.BaseSampler:
    return STRATEGIES.create(search.strategy, search, n_objectives)


def _grid(search: SearchSpec, n_objectives: int) -> optuna.samplers.BaseSampler:
    grid = SpaceCodec(search.space).grid()
    if grid is None:
        raise ValueError("the grid strategy needs a discrete space (lists or stepped ranges)")
    return AskTellGridSampler(grid, seed=search.seed)


def _random(search: SearchSpec, n_objectives: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=search.seed)


def _bayesian(search: SearchSpec, n_objectives: int) -> optuna.samplers.BaseSampler:
    startup = max(4, min(10, search.max_experiments // 4))
    return optuna.samplers.TPESampler(seed=search.seed, n_startup_trials=startup, multivariate=True,
                                      constant_liar=True)


def _gp(search: SearchSpec, n_objectives: int) -> optuna.samplers.BaseSampler:
    try:
        return optuna.samplers.GPSampler(seed=search.seed, deterministic_objective=False)
    except ImportError as e:  # GP needs torch and scipy
        raise ValueError(f"search.strategy 'gp' needs torch and scipy installed ({e})") from None


for _name, _factory in (("grid", _grid), ("random", _random), ("bayesian", _bayesian), ("gp", _gp)):
    STRATEGIES.register(_name, _factory)
