"""Is a measurement whole? The rules that keep a broken engine out of the ranking.

A benchmark that ran to its end can still be worthless: the engine died half-way (the later requests
all failed fast), it hung with its port open until the experiment's deadline, or it answered a share
of requests with errors. Such an experiment is ``failed`` with one of these reasons, its partial
levels are kept for the record, and the search is told it is infeasible.
``experiment_status`` then names the status of every experiment, from its outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..spec.task import Task
from .scoring import is_feasible, select_metrics

if TYPE_CHECKING:  # a type only: the runners import this module
    from .runners import Outcome

ENGINE_DIED = "engine_died"
DEADLINE = "deadline"
ERRORS = "errors"


@dataclass(frozen=True)
class Problem:
    reason: str  # engine_died | deadline | errors
    message: str


def measurement_problem(levels: list[dict], min_success_rate: float, engine_alive: bool = True,
                        deadline_hit: bool = False, deadline_note: str | None = None) -> Problem | None:
    """The first reason the measurement cannot be ranked, or None when it is whole.

    ``levels`` are ``LevelResult.to_dict()`` entries; a level's ``success_rate`` is the share of its
    requests that completed without error; ``deadline_note`` says which deadline passed."""
    if not engine_alive:
        return Problem(ENGINE_DIED, f"the engine exited during the benchmark (after {len(levels)} level(s))")
    if deadline_hit:
        what = deadline_note or "the benchmark did not finish before the experiment's deadline"
        return Problem(DEADLINE, f"{what} (after {len(levels)} level(s) completed)")
    for lv in levels:
        rate = lv.get("metrics", {}).get("success_rate", 0.0)
        if rate < min_success_rate:
            load = f"c={lv['concurrency']}" if lv.get("concurrency") is not None else f"rate={lv.get('rate')}/s"
            label = f"{lv.get('scenario')} {load}"
            sample = "; ".join((lv.get("errors") or [])[:2])
            return Problem(ERRORS, f"{label}: {100 * rate:.1f}% of requests succeeded "
                                   f"(benchmark.min_success_rate {min_success_rate:g})"
                                   + (f": {sample}" if sample else ""))
    return None


# -- the experiment's status: the one place that decides it -------------------------------------
def experiment_status(task: Task, outcome: "Outcome") -> str:
    """succeeded | failed | infeasible | pruned | interrupted (cancelled before it was measured)."""
    if not outcome.ok:
        return "interrupted" if outcome.reason == "cancelled" else "failed"
    if outcome.verdict == "not competitive":
        return "pruned"
    return "succeeded" if is_feasible(task, select_metrics(task, outcome.levels)) else "infeasible"


def status_error(task: Task, outcome: "Outcome", status: str, metrics: dict) -> str | None:
    """The message recorded with a status: why it is not ``succeeded`` (None when nothing to say)."""
    if status == "pruned":
        return "stopped early: not competitive with the experiments so far"
    if status == "infeasible":
        misses = {k: v for k, v in task.slo_violations(metrics).items() if v > 0}
        error = "SLO not met: " + ", ".join(
            f"{k} = {metrics.get(k, float('nan')):.4g} (limit {task.slo[k]:g})" for k in misses)
        if outcome.verdict == "hopeless":
            error += "; stopped early: the lowest load level already misses it"
        return error
    if status == "failed" and outcome.reason:
        return f"{outcome.reason}: {outcome.error}"
    return outcome.error
