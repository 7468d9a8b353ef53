"""Early stopping: end a benchmark as soon as its verdict is known.

Two rules, checked after every load level:
- *hopeless*: latency grows with load, so once a level misses a latency SLO, the higher levels of
  the same scenario miss it too. Missing it at a scenario's lowest level makes the whole experiment
  infeasible (it is recorded as pruned).
- *not competitive*: the best feasible objective so far is reported to Optuna's pruner
  (single objective only); when the pruner says so before the last level, the experiment stops and
  is recorded as pruned (after the last level there is nothing left to save: it is a measurement).
"""

from __future__ import annotations

import math

import optuna

from ..bench.metrics import higher_is_better, meets_slo
from ..bench.result import LevelResult
from ..spec.task import Task


def make_pruner(task: Task) -> optuna.pruners.BasePruner:
    if not task.search.prune or len(task.objectives) > 1 or len(task.workload.levels()) < 2:
        return optuna.pruners.NopPruner()
    # Conservative: only the clearly worst quarter stops, after a few complete experiments.
    return optuna.pruners.PercentilePruner(25.0, n_startup_trials=5, n_warmup_steps=1)


class EarlyStopper:
    def __init__(self, task: Task, trial: optuna.Trial | None):
        self.task, self.trial = task, trial
        self.levels = task.workload.levels()
        self.verdict: str | None = None  # None | "hopeless" | "not competitive" | "slo"
        self.best_so_far: float | None = None
        self.step = 0

    def on_level(self, level: LevelResult) -> bool:
        """True to go on to the next level."""
        if not self.task.search.prune or self.task.workload.select != "best_feasible":
            return True
        idx = self._index(level)
        self._report(level)
        if self._misses_latency_slo(level) and idx is not None and all(
                s == level.scenario for s, _, _ in self.levels[idx + 1:]):
            first = next(i for i, (s, _, _) in enumerate(self.levels) if s == level.scenario)
            self.verdict = "hopeless" if idx == first else "slo"
            return False
        last = idx is not None and idx == len(self.levels) - 1
        if self.trial is not None and self.step > 0 and not last and self.trial.should_prune():
            self.verdict = "not competitive"
            return False
        return True

    def _index(self, level: LevelResult) -> int | None:
        return next((i for i, (s, c, r) in enumerate(self.levels)
                     if s == level.scenario and c == level.concurrency and r == level.rate), None)

    def _misses_latency_slo(self, level: LevelResult) -> bool:
        return any(v > 0 and not higher_is_better(k) for k, v in self.task.slo_violations(level.metrics).items())

    def _report(self, level: LevelResult) -> None:
        if self.trial is None or len(self.task.objectives) > 1:
            return
        objective = self.task.objective
        value = level.metrics.get(objective.metric)
        if value is not None and not math.isnan(value) and meets_slo(level.metrics, self.task.slo):
            if self.best_so_far is None or (value > self.best_so_far if objective.maximize else value < self.best_so_far):
                self.best_so_far = value
        if self.best_so_far is not None:
            self.trial.report(self.best_so_far, self.step)
            self.step += 1
