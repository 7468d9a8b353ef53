"""Optuna samplers for each strategy. No optimizer of our own: Optuna does the searching."""

from __future__ import annotations

import optuna

from ..spec.task import SearchSpec
from .space import SpaceCodec


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, for the ask/tell loop: the tuner stops on its own budget and on an
    exhausted space, so the sampler must not call ``study.stop()`` (only valid inside ``optimize``)."""

    def after_trial(self, study, trial, state, values) -> None:  # noqa: ANN001
        return None


def make_sampler(search: SearchSpec, n_objectives: int = 1) -> optuna.samplers.BaseSampler:
    seed = search.seed
    if search.strategy == "grid":
        grid = SpaceCodec(search.space).grid()
        if grid is None:
            raise ValueError("the grid strategy needs a discrete space (lists or stepped ranges)")
        return AskTellGridSampler(grid, seed=seed)
    if search.strategy == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if search.strategy == "gp":
        try:
            return optuna.samplers.GPSampler(seed=seed, deterministic_objective=False)
        except ImportError as e:  # GP needs torch and scipy
            raise ValueError(f"search.strategy 'gp' needs torch and scipy installed ({e})") from None
    startup = max(4, min(10, search.max_experiments // 4))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True,
                                      constant_liar=True)
