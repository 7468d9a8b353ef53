"""A GPU node in virtual time for ``gpu_time.py``: experiments hold their GPUs from start to end.

The tuner's worker threads call ``VirtualNode.run`` concurrently; each call is placed on the node at
the earliest virtual time its GPUs are free and blocks until every live worker is inside the node
(or has gone quiet); then the experiment that ends first returns. So the tuner sees results in the
order a real node would give them, and the run is the same for the same seed.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

QUIET_S = 0.25  # a worker not back inside after this long (waiting for budget, or done) is not waited for


@dataclass
class Interval:
    start: float
    end: float
    gpus: int
    startup: float  # the first ``startup`` seconds of it are the engine's start-up, the rest its benchmark
    key: str = ""
    compiled_at: float = 0.0  # when its compile cache entry exists (start + process + load + compile)
    seq: int = 0


class VirtualNode:
    def __init__(self, gpus: int, workers: int):
        self.gpus, self.workers = gpus, workers
        self.cv = threading.Condition()
        self.now = 0.0
        self.done: list[Interval] = []
        self.inside: list[Interval] = []
        self.arriving: list[int] = []
        self.version = 0
        self.aborted = False
        self._seq = itertools.count()

    # -- placement -----------------------------------------------------------------------------
    def _used(self, t: float) -> int:
        return sum(i.gpus for i in self.inside if i.start <= t < i.end)

    def earliest_start(self, gpus: int, duration: float) -> float:
        """The first time >= now at which ``gpus`` GPUs stay free for ``duration`` seconds."""
        for t in sorted({self.now} | {i.end for i in self.inside if i.end > self.now}):
            points = [t] + [i.start for i in self.inside if t < i.start < t + duration]
            if all(self._used(p) + gpus <= self.gpus for p in points):
                return t
        raise ValueError(f"an experiment on {gpus} GPUs does not fit a {self.gpus}-GPU node")

    def compiled_before(self, key: str, t: float) -> bool:
        return any(i.key == key and i.compiled_at <= t for i in self.done + self.inside)

    # -- running -------------------------------------------------------------------------------
    def _full(self) -> bool:
        return len(self.arriving) + len(self.inside) >= self.workers

    def _wait_turn(self, mine) -> None:
        """Until ``mine()`` holds and every live worker is here (or nothing moved for QUIET_S)."""
        while not self.aborted:
            if mine() and self._full():
                return
            version = self.version
            self.cv.wait(QUIET_S)
            if mine() and version == self.version:
                return

    def run(self, order: int, place) -> Interval:
        """``place(node)`` (called under the lock, in ``order`` among the experiments arriving together)
        returns the experiment's Interval; ``run`` returns once that experiment is the next to end."""
        with self.cv:
            self.arriving.append(order)
            self._moved()
            self._wait_turn(lambda: min(self.arriving) == order)
            self.arriving.remove(order)
            me = place(self)
            me.seq = next(self._seq)
            self.inside.append(me)
            self._moved()
            self._wait_turn(lambda: not self.arriving and min(self.inside, key=lambda i: (i.end, i.seq)) is me)
            self.inside.remove(me)
            self.done.append(me)
            self.now = max(self.now, me.end)
            self._moved()
            return me

    def _moved(self) -> None:
        self.version += 1
        self.cv.notify_all()

    def abort(self) -> None:
        """The run is over (target reached): every waiting experiment returns at once."""
        with self.cv:
            self.aborted = True
            self.cv.notify_all()

    def spend_until(self, t: float) -> dict[str, float]:
        """GPU-seconds up to virtual time ``t``: start-up, benchmark and idle (the rest of the node)."""
        startup = bench = 0.0
        for i in self.done + self.inside:
            ran = max(0.0, min(i.end, t) - i.start)
            startup += i.gpus * min(ran, i.startup)
            bench += i.gpus * max(0.0, ran - i.startup)
        return {"startup": startup, "benchmark": bench, "idle": self.gpus * t - startup - bench}
