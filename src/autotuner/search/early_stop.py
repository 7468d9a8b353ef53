"""Early stopping: end a benchmark as soon as its verdict is known.

Levels lowest load first (the order as written), checked after every level:
- *hopeless*: latency grows with load, so once a level misses a latency SLO, the higher levels of
  the same scenario miss it too. Missing it at a scenario's lowest level makes the whole experiment
  infeasible (it is recorded as pruned).
- *not competitive*: the best feasible objective so far is reported to Optuna's pruner
  (single objective only); when the pruner says so before the last level, the experiment stops and
  is recorded as pruned (after the last level there is nothing left to save: it is a measurement).

Levels highest load first (``fidelity.informative``), per family of levels (``fidelity.family``):
- *settled*: the first level that meets the SLO is the family's best (lower loads give less);
- *cannot beat the incumbent*: a level's objective bounds the lower levels'; when its upper
  confidence bound is below the best feasible score of the task so far, the family cannot win;
- *cannot meet the SLO*: the lowest level misses a latency SLO (higher ones did already).
The benchmark stops once every family left is decided. An experiment whose families all lost to
the incumbent is "outclassed": recorded by the levels it measured (which missed the SLO), and the
sampler is told the bound it cannot exceed (``EarlyStopper.bound``, below the incumbent) as a
feasible value: "no better than this", not "infeasible", which would steer the search away from a
region whose lower loads may well meet the SLO. One that settled is a complete measurement.

The confidence bound treats the objective as a rate counted over the level's requests: its
relative standard error is about ``1/sqrt(n)`` (Poisson counting), so the bound is
``value * (1 + z / sqrt(n))`` with ``z`` the one-sided normal quantile of ``CONFIDENCE``.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import optuna

from ..bench.metrics import higher_is_better, meets_slo
from ..bench.result import LevelResult
from ..spec.task import Task
from .fidelity import family, informative, load_of, workload_for

CONFIDENCE = 0.95


def make_pruner(task: Task) -> optuna.pruners.BasePruner:
    if (not task.search.prune or len(task.objectives) > 1 or len(task.workload.levels()) < 2
            or informative(task)):  # the informative order decides with its own rules
        return optuna.pruners.NopPruner()
    # Conservative: only the clearly worst quarter stops, after a few complete experiments.
    return optuna.pruners.PercentilePruner(25.0, n_startup_trials=5, n_warmup_steps=1)


def upper_bound(value: float, requests: float, confidence: float = CONFIDENCE) -> float:
    """One-sided upper confidence bound of a rate measured over ``requests`` requests."""
    z = NormalDist().inv_cdf(confidence)
    return value * (1 + z / math.sqrt(max(requests, 1.0)))


class EarlyStopper:
    def __init__(self, task: Task, trial: optuna.Trial | None, incumbent: float | None = None):
        self.task, self.trial, self.incumbent = task, trial, incumbent
        self.informative = informative(task)
        self.levels = workload_for(task).levels()
        self.verdict: str | None = None  # None | hopeless | not competitive | slo | settled | outclassed
        self.best_so_far: float | None = None
        self.step = 0
        self.decided: dict[tuple[str, bool], str] = {}  # family -> "settled" | "lost" | "infeasible"
        self.measured: set[tuple[str, int | None, float | None]] = set()
        self.bound: float | None = None  # outclassed: the best objective the experiment could still reach

    def on_level(self, level: LevelResult) -> bool:
        """True to go on to the next level."""
        if not self.task.search.prune or self.task.workload.select != "best_feasible":
            return True
        idx = self._index(level)
        if self.informative:
            return self._informative(level, idx)
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

    # -- highest load first (the rules hold in any order the levels arrive) -------------------
    def _informative(self, level: LevelResult, idx: int | None) -> bool:
        if idx is None:
            return True
        key = (level.scenario, level.concurrency, level.rate)
        self.measured.add(key)
        fam = family(key)
        if fam not in self.decided:
            left = [load_of(lv) for lv in self.levels if family(lv) == fam and lv not in self.measured]
            load = load_of(key)
            if meets_slo(level.metrics, self.task.slo) and all(x < load for x in left):
                self.decided[fam] = "settled"  # the lower loads left cannot give more
            elif self._cannot_beat_incumbent(level) and all(x < load for x in left):
                self.decided[fam] = "lost"
                ucb = upper_bound(level.metrics[self.task.objective.metric], level.metrics.get("num_requests", 1.0))
                self.bound = ucb if self.bound is None else max(self.bound, ucb)
            elif self._misses_latency_slo(level) and all(x > load for x in left):
                self.decided[fam] = "infeasible"  # the higher loads left would miss it too
        if all(lv in self.measured or family(lv) in self.decided for lv in self.levels):
            if len(self.measured) == len(self.levels):
                return True  # nothing left to skip: a plain measurement
            outcomes = set(self.decided.values())
            if outcomes == {"lost"}:
                # Not "not competitive" (pruned, which tells the sampler nothing): the measured levels
                # missed the SLO, so the experiment is recorded by them and the sampler learns why.
                self.verdict = "outclassed"
            elif "settled" in outcomes:
                self.verdict = "settled"
            else:
                self.verdict = "hopeless" if len(self.measured) == 1 else "slo"
            return False
        return True

    def _cannot_beat_incumbent(self, level: LevelResult) -> bool:
        if self.incumbent is None or len({family(lv) for lv in self.levels}) > 1:
            return False  # several families: the score mixes them, one alone cannot decide
        value = level.metrics.get(self.task.objective.metric)
        if value is None or math.isnan(value):
            return False
        return upper_bound(value, level.metrics.get("num_requests", 1.0)) < self.incumbent

    # -- shared --------------------------------------------------------------------------------
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
