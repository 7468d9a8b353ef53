"""Multi-fidelity benchmarking: spend a full benchmark only where it can change the answer.

The objective of most tasks (output tokens/s per GPU, the best level that meets the SLO) grows with
load, so a scenario's *highest* load level is the most informative one to measure first:

- when it meets the SLO it is the scenario's best level, and the lower levels cannot beat it;
- its objective bounds every lower level's, so when even that (plus its measurement error) cannot
  beat the incumbent, the configuration cannot either;
- only when it misses the SLO do the lower levels matter, and then in descending order again.

``workload_for(task)`` gives the workload in that order when it applies (``informative(task)``):
early stopping on (``search.prune``), ``search.level_order: informative`` (opt-in: see
``benchmarks/gpu_time.py`` for when it pays; the default is ``as_written``), the
``best_feasible`` selection, one objective that is a rate (higher is better).
Otherwise the levels run lowest load first, as written. The stopping rules live in ``early_stop``.
``confirm.confirm_full`` runs the final best once more with every level, so the answer rests on a full
benchmark.
"""

from __future__ import annotations

from ..bench.metrics import higher_is_better
from ..spec.task import Task
from ..spec.workload import Workload

Level = tuple[str, int | None, float | None]


def informative(task: Task) -> bool:
    """Whether the highest-load-first order (and its stopping rules) applies to ``task``."""
    objectives = task.objectives
    return (task.search.prune and task.search.level_order == "informative"
            and task.workload.select == "best_feasible" and len(objectives) == 1
            and objectives[0].maximize and higher_is_better(objectives[0].metric))


def family(level: Level) -> tuple[str, bool]:
    """Levels whose objective grows with load together: one scenario's closed (or open) loop levels."""
    scenario, concurrency, _ = level
    return scenario, concurrency is not None


def load_of(level: Level) -> float:
    _, concurrency, rate = level
    return float(concurrency if concurrency is not None else rate or 0.0)


class InformativeWorkload(Workload):
    """The same workload, each scenario's levels highest load first (closed loop, then open loop)."""

    def levels(self) -> list[Level]:
        out: list[Level] = []
        for s in self.scenarios:
            out += [(s, c, None) for c in sorted(self.concurrency, reverse=True)]
            out += [(s, None, r) for r in sorted(self.rates, reverse=True)]
        return out


def workload_for(task: Task) -> Workload:
    """The workload an experiment of ``task`` runs: the informative order when it applies."""
    if not informative(task) or len(task.workload.levels()) < 2:
        return task.workload
    return InformativeWorkload.model_validate(task.workload.model_dump())
