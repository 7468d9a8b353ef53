"""Real time: one asyncio task per replica runs scheduler steps and sleeps for their virtual duration.

The engine keeps its own model clock: each step starts where the previous one ended (``t0 +
cumulative duration``) and an idle engine resumes at the instant its first request arrived (plus the
idle poll), not where Python got round to it. A step's tokens are delivered at its model-time
deadline, or at once when the host was too busy to be there in time, and the next step keeps the
model's schedule, so a loaded CPU delays deliveries a little (client jitter) but never makes the
engine slower. Only a driver stopped for seconds (a suspended process) starts afresh from now.
After each step its tokens go to the waiting responses' queues: ``("token", index)``, then
``("done", None)`` or ``("error", message)``.
"""

from __future__ import annotations

import asyncio
import collections
import time

from .engine import SimEngine
from .pacing import IDLE_POLL_S
from .scheduler import Request, StepResult

MAX_LAG_S = 5.0  # further behind than this the process was stopped, not busy: start afresh
THROUGHPUT_WINDOW_S = 5.0


class RealTimeDriver:
    def __init__(self, engine: SimEngine):
        self.engine = engine
        self.queues: dict[str, asyncio.Queue] = {}
        self.replica_of: dict[str, int] = {}
        self._wake = [asyncio.Event() for _ in engine.replicas]
        self._tasks: list[asyncio.Task] = []
        self._t0 = time.monotonic()
        self._generated: collections.deque[tuple[float, int]] = collections.deque()
        self._total_generated = 0
        self._woken_at: dict[int, float] = {}  # replica -> when a request woke it, on the monotonic clock

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(i), name=f"sim-replica-{i}") for i in range(len(self._wake))]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def submit(self, request: Request) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self.queues[request.id] = queue
        arrived = time.monotonic()
        index = self.engine.submit(request)
        self.replica_of[request.id] = index
        if len(self.engine.replicas[index].requests) == 1:  # it was idle: this request wakes it
            self._woken_at.setdefault(index, arrived)
        self._wake[index].set()
        return queue

    def release(self, request_id: str) -> None:
        """The response is over (or its client left): forget it, aborting it if still in the engine."""
        self.queues.pop(request_id, None)
        index = self.replica_of.pop(request_id, None)
        if index is not None:
            self.engine.replicas[index].abort(request_id)

    def now(self) -> float:
        return time.monotonic() - self._t0

    def gen_throughput(self) -> float:
        """Output tokens per second over the last few seconds."""
        now = time.monotonic()
        window = self._generated
        while window and window[0][0] < now - THROUGHPUT_WINDOW_S:
            window.popleft()
        if len(window) < 2:
            return 0.0
        span = max(now - window[0][0], 1e-3)
        return (self._total_generated - window[0][1]) / span

    async def _run(self, index: int) -> None:
        scheduler = self.engine.replicas[index]
        wake = self._wake[index]
        anchor: float | None = None
        while True:
            if scheduler.idle:
                wake.clear()
                await wake.wait()
            woken = self._woken_at.pop(index, None)
            if woken is not None:  # idle until then: requests arriving together start together
                resume = woken + IDLE_POLL_S
                anchor = resume if anchor is None else max(anchor, resume)  # model time never runs back
                await asyncio.sleep(max(0.0, anchor - time.monotonic()))
            now = time.monotonic()
            start = now if anchor is None or now - anchor > MAX_LAG_S else anchor
            result = scheduler.step(start - self._t0)
            target = start + result.duration
            delay = target - time.monotonic()
            await asyncio.sleep(max(0, delay))
            self._deliver(result)
            anchor = target
            if not (result.duration or result.emitted or result.failed):
                await asyncio.sleep(0.01)  # nothing could run; do not spin

    def _deliver(self, result: StepResult) -> None:
        queues = self.queues
        for rid, index in result.emitted:
            queue = queues.get(rid)
            if queue is not None:
                queue.put_nowait(("token", index))
        for rid in result.finished:
            self.replica_of.pop(rid, None)
            queue = queues.get(rid)
            if queue is not None:
                queue.put_nowait(("done", None))
        for rid, why in result.failed:
            self.replica_of.pop(rid, None)
            queue = queues.get(rid)
            if queue is not None:
                queue.put_nowait(("error", why))
        if result.emitted:
            now = time.monotonic()
            self._total_generated += len(result.emitted)
            self._generated.append((now, self._total_generated))
            while self._generated[0][0] < now - 2 * THROUGHPUT_WINDOW_S:
                self._generated.popleft()
