"""Multi-process load generation: one level's requests sent from several client processes.

One Python process tops out at a few thousand streamed tokens per second of parsing; an 8-GPU node
serving a small model streams more. ``WorkerPool(n)`` starts ``n`` processes once per benchmark
(``spawn``: safe beside the tuner's threads) and runs each level on all of them:

- they share the level's *schedule*, the requests in the order the rng contract draws them
  (``bench.seeds``): in a closed loop each process runs its share of the concurrency and takes the
  next request index from one shared counter, so the level sends exactly the requests, in the order,
  a single process would; in an open loop request k goes from process k mod n at its arrival time;
- every process returns its raw per-request records; the parent merges them (``bench.merge``) and
  summarizes the merged samples;
- each reports its CPU share, so the result can say when the client limited the level.

The schedule is built by the parent when the level has a request count; a level bounded only by
duration has no known length, so each process draws the same deterministic stream itself.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from typing import Any

from .event_loop import run_loop
from .merge import ClientLoad, cpu_share, merge_records
from .metrics import RequestRecord
from .prompts import Prompt, PromptSource
from .seeds import prompt_rng, shape_rng

# At this concurrency (or rate) and above, one process is likely to be the bottleneck.
HIGH_CONCURRENCY = 128
HIGH_RATE = 100.0
_START_MARGIN = 0.01  # seconds from "go" to the level's common start
_STOP_POLL = 0.05

Request = tuple[Prompt, int]  # prompt, max_tokens


def default_workers(levels: list[tuple[str, int | None, float | None]], cores: int | None = None) -> int:
    """When some level is heavy, cores - 1 processes but at least two (given two cores); else 1 (in-process).

    Two processes help even on two cores: each event-loop turn then serves half the streams, so a
    token waits less for its read (measured at concurrency 256 on 2 cores, known 100 ms TTFT:
    +10.5 ms with two processes, +29.7 ms with one, ``benchmarks/loadgen_capacity.py``)."""
    cores = cores or os.cpu_count() or 1
    heavy = any((c or 0) >= HIGH_CONCURRENCY or (r or 0) >= HIGH_RATE for _, c, r in levels)
    return max(2, cores - 1) if heavy and cores >= 2 else 1


@dataclass
class LazySchedule:
    """The level's stream drawn in the process itself (duration-bounded closed loops)."""

    scenario: str
    seed: int
    concurrency: int | None
    rate: float | None
    dataset: list[dict] | None
    skip: int  # warm-up draws, sent by the parent before the level


@dataclass
class LevelJob:
    base_url: str
    model: str
    api: str
    timeout: float
    start_at: float = 0.0  # perf_counter time all processes start (set by the pool)
    concurrency: int = 0  # this process's share (closed loop)
    count: int | None = None
    duration: float | None = None  # seconds from ``start_at``
    open_loop: bool = False
    requests: list[Request] | None = None  # closed loop: the whole schedule
    lazy: LazySchedule | None = None
    arrivals: list[tuple[float, Request]] = field(default_factory=list)  # open loop: this process's part


class _Schedule:
    def __init__(self, job: LevelJob):
        self.items = job.requests
        self.source = None
        if self.items is None:
            lazy = job.lazy
            assert lazy is not None
            self.items = []
            self.source = PromptSource(lazy.scenario, shape_rng(lazy.seed, lazy.scenario, lazy.concurrency, lazy.rate),
                                       prompt_rng(lazy.seed, lazy.scenario, lazy.concurrency, lazy.rate), lazy.dataset)
            for _ in range(lazy.skip):
                self.source.next()

    def get(self, index: int) -> Request:
        while self.source is not None and len(self.items) <= index:
            prompt, shape = self.source.next()
            self.items.append((prompt, shape.output_tokens))
        return self.items[index]


async def _run_job(job: LevelJob, counter: Any, stop: Any) -> list[RequestRecord]:
    from .client import make_session, send

    records: list[RequestRecord] = []
    await asyncio.sleep(max(0.0, job.start_at - time.perf_counter()))
    async with make_session() as session:
        async def one(request: Request) -> None:
            records.append(await send(session, job.base_url, job.model, request[0], request[1], job.api, job.timeout))

        deadline = None if job.duration is None else job.start_at + job.duration

        async def closed_worker(schedule: _Schedule) -> None:
            while deadline is None or time.perf_counter() < deadline:
                with counter.get_lock():
                    index = counter.value
                    counter.value += 1
                if job.count is not None and index >= job.count:
                    return
                await one(schedule.get(index))

        async def open_sender() -> None:
            tasks = []
            for at, request in job.arrivals:
                delay = job.start_at + at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(request)))
            await asyncio.gather(*tasks)

        if job.open_loop:
            work = asyncio.ensure_future(open_sender())
        else:
            schedule = _Schedule(job)
            work = asyncio.ensure_future(asyncio.gather(*(closed_worker(schedule) for _ in range(job.concurrency))))
        while not work.done():  # a set ``stop`` ends the level: its partial records are discarded
            await asyncio.wait({work}, timeout=_STOP_POLL)
            if stop.is_set():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                return []
        work.result()
    return records


def _process_main(conn: Any, counter: Any, stop: Any, go: Any, start: Any) -> None:
    from . import client  # noqa: F401  (imported before "ready": a level's start is not spent importing)

    conn.send("ready")
    while True:
        job = conn.recv()
        if job is None:
            return
        conn.send("ready")
        go.wait()  # every process has its job: they start together
        job.start_at = start.value
        cpu0, wall0 = time.process_time(), time.perf_counter()
        records = run_loop(_run_job(job, counter, stop))  # type: ignore[arg-type]
        wall0 = max(wall0, job.start_at)
        conn.send((records, cpu_share(time.process_time() - cpu0, time.perf_counter() - wall0)))


class WorkerPool:
    """``n`` client processes, started on entering and stopped on leaving."""

    def __init__(self, processes: int):
        if processes < 2:
            raise ValueError(f"workers must be >= 2 for a pool of client processes, got {processes}")
        self.size = processes
        self._context = multiprocessing.get_context("spawn")
        self.counter = self._context.Value("q", 0)
        self.stop = self._context.Event()
        self._go = self._context.Event()
        self._start = self._context.Value("d", 0.0)
        self._procs: list[Any] = []
        self._conns: list[Any] = []

    def __enter__(self) -> "WorkerPool":
        for _ in range(self.size):
            parent, child = self._context.Pipe()
            proc = self._context.Process(target=_process_main, daemon=True,
                                         args=(child, self.counter, self.stop, self._go, self._start))
            proc.start()
            self._procs.append(proc)
            self._conns.append(parent)
        self._replies()
        return self

    def __exit__(self, *exc: object) -> None:
        for conn in self._conns:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()

    def run(self, jobs: list[LevelJob]) -> tuple[list[RequestRecord], ClientLoad]:
        """Hand one job to each process and wait for all; records merged, CPU shares per process."""
        assert len(jobs) == self.size
        self.stop.clear()
        with self.counter.get_lock():
            self.counter.value = 0
        for conn, job in zip(self._conns, jobs):
            conn.send(job)
        self._replies()
        self._start.value = time.perf_counter() + _START_MARGIN
        self._go.set()
        try:
            replies = self._replies()
        finally:
            self._go.clear()
        return merge_records([records for records, _ in replies]), ClientLoad([share for _, share in replies])

    def _replies(self) -> list[Any]:
        """One message from every process (raises when one died instead)."""
        out = []
        for conn, proc in zip(self._conns, self._procs):
            while not conn.poll(0.5):
                if not proc.is_alive():
                    raise RuntimeError(f"client process {proc.pid} died (exit code {proc.exitcode})")
            out.append(conn.recv())
        return out

    def closed_loop(self, template: LevelJob, concurrency: int) -> tuple[list[RequestRecord], ClientLoad]:
        """Split ``concurrency`` over the processes (the first ones take the remainder)."""
        shares = [concurrency // self.size + (1 if i < concurrency % self.size else 0) for i in range(self.size)]
        jobs = [_with(template, concurrency=share) for share in shares]
        return self.run(jobs)

    def open_loop(self, template: LevelJob, arrivals: list[tuple[float, Request]]
                  ) -> tuple[list[RequestRecord], ClientLoad]:
        jobs = [_with(template, open_loop=True, arrivals=arrivals[i::self.size])
                for i in range(self.size)]
        return self.run(jobs)


def _with(template: LevelJob, **changes: Any) -> LevelJob:
    return LevelJob(**{**template.__dict__, **changes})
