"""Optuna samplers for each built-in strategy. No optimizer of our own: Optuna does the searching.

The list of strategies is ``strategies.STRATEGIES``; its built-in entries call ``BUILT_IN``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import optuna

from .space import SpaceCodec

if TYPE_CHECKING:  # a type only: the task spec checks its strategy against STRATEGIES
    from ..spec.task import SearchSpec


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, for the ask/tell loop: the tuner stops on its own budget and on an
    exhausted space, so the sampler must not call ``study.stop()`` (only valid inside ``optimize``)."""

    def after_trial(self, study, trial, state, values) -> None:  # noqa: ANN001
        return None


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


BUILT_IN: dict[str, Callable[[SearchSpec, int], optuna.samplers.BaseSampler]] = {"grid": _grid, "random": _random, "bayesian": _bayesian, "gp": _gp}
