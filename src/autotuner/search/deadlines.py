"""Hard deadlines of one experiment: ``timeouts.experiment`` bounds start-up, benchmark and teardown.

The experiment's clock starts before the engine is deployed. The engine gets what is left for its
start-up (at most ``timeouts.startup``); the benchmark ends early enough to leave the teardown its
reserve; and each load level has a deadline of its own, so that a hung level is cut after its share
of the time rather than after the whole budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..spec.workload import Workload

TEARDOWN_SHARE = 0.1  # of timeouts.experiment kept for stopping the engine...
TEARDOWN_MAX = 5.0  # ...but never more than this many seconds
MIN_STARTUP = 0.5  # seconds: an engine always gets a chance to answer its first health check
LEVEL_SLACK = 2.0  # a level may take this many times its share of the time left


@dataclass(frozen=True)
class ExperimentClock:
    start: float  # time.monotonic() when the experiment began
    total: float  # timeouts.experiment, seconds

    @property
    def end(self) -> float:
        return self.start + self.total

    @property
    def teardown_reserve(self) -> float:
        return min(TEARDOWN_MAX, TEARDOWN_SHARE * self.total)

    @property
    def benchmark_end(self) -> float:
        return self.end - self.teardown_reserve

    def startup_timeout(self, startup: float) -> float:
        """``timeouts.startup``, cut to what the experiment has left before its benchmark must end."""
        return max(min(startup, self.benchmark_end - time.monotonic()), MIN_STARTUP)


class LevelDeadlines:
    """One deadline per load level, set as the level begins: its share of the time left before the
    benchmark must end, in proportion to its request count (warm-up included), times ``LEVEL_SLACK``.
    A level bounded by a duration gets at least that duration plus ``stall`` (its last requests' end)."""

    def __init__(self, workload: Workload, end: float, stall: float):
        self.end, self.stall, self.duration = end, stall, workload.duration
        self.labels = [f"{s} " + (f"c={c}" if c is not None else f"rate={r}/s") for s, c, r in workload.levels()]
        requests = workload.warmup_requests + (workload.num_requests or 0)
        self.weights = [float(requests or 1)] * len(self.labels)  # duration-only levels: equal shares
        self.index = -1
        self.level_end = end
        self.budget = 0.0

    def begin_next(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.index += 1
        rest = self.weights[self.index:]
        if not rest:
            self.level_end, self.budget = self.end, max(self.end - now, 0.0)
            return
        share = (self.end - now) * rest[0] / sum(rest)
        budget = LEVEL_SLACK * share
        if self.duration is not None:
            budget = max(budget, self.duration + self.stall)
        self.level_end = min(self.end, now + budget)
        self.budget = max(self.level_end - now, 0.0)

    def expired(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self.level_end

    def describe(self) -> str:
        if self.index >= len(self.labels):
            return "the benchmark did not finish before the experiment's deadline"
        which = f"level {self.index + 1} of {len(self.labels)} ({self.labels[self.index]})"
        if self.level_end >= self.end:
            return f"{which} did not finish before the experiment's deadline"
        return f"{which} did not finish within its deadline of {self.budget:.1f} s"
