"""The one list of search strategies: name -> ``factory(search, n_objectives)`` returning an Optuna sampler.

Kept apart from ``samplers`` so the task spec can check a strategy's name without importing Optuna
(half a second of every ``autotuner validate``); the built-in factories import it when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..registry import Registry

if TYPE_CHECKING:  # types only
    from ..spec.task import SearchSpec

SamplerFactory = Callable[["SearchSpec", int], Any]  # an optuna.samplers.BaseSampler
STRATEGIES: Registry[SamplerFactory] = Registry("strategy", "search.strategy")


def _built_in(name: str) -> SamplerFactory:
    def factory(search: SearchSpec, n_objectives: int) -> Any:
        from . import samplers
        return samplers.BUILT_IN[name](search, n_objectives)
    return factory


def make_sampler(search: SearchSpec, n_objectives: int = 1) -> Any:
    """The Optuna sampler of ``search.strategy``."""
    return STRATEGIES.create(search.strategy, search, n_objectives)


for _name in ("grid", "random", "bayesian", "gp"):
    STRATEGIES.register(_name, _built_in(_name))
