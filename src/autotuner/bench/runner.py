"""Drive the load levels of a workload against an OpenAI-compatible server and summarize each.

A closed-loop level keeps ``concurrency`` requests in flight; an open-loop level sends requests at
Poisson arrivals of ``rate`` per second. Request shapes, prompts and arrival times come from the
random streams of ``seeds`` (the simulated engine replays them in virtual time).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

import aiohttp

from ..spec.workload import Workload
from .client import APIS, make_session, send
from .merge import ClientLoad, cpu_share, window
from .metrics import RequestRecord, error_sample, summarize
from .prompts import PromptSource, load_dataset
from .request_sample import request_sample
from .result import BenchmarkResult, LevelResult
from .seeds import arrival_gaps, prompt_rng, shape_rng
from .event_loop import run_loop
from .workers import LazySchedule, LevelJob, WorkerPool, default_workers

LevelCallback = Callable[[LevelResult], bool]


class _Level:
    """What one level needs to send its requests."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, model: str, api: str, timeout: float,
                 source: PromptSource):
        self.session, self.base_url, self.model, self.api, self.timeout = session, base_url, model, api, timeout
        self.source = source

    def next_request(self) -> Callable[[], Awaitable[RequestRecord]]:
        # Drawn when the request is issued, so shapes follow the send order of the rng contract.
        prompt, shape = self.source.next()
        return lambda: send(self.session, self.base_url, self.model, prompt, shape.output_tokens,
                            self.api, self.timeout)


async def _closed_loop(level: _Level, concurrency: int, count: int | None, duration: float | None
                       ) -> list[RequestRecord]:
    """``concurrency`` workers, each sending its next request when the previous one finished."""
    records: list[RequestRecord] = []
    issued = 0
    deadline = None if duration is None else time.perf_counter() + duration

    def more() -> bool:
        if count is not None and issued >= count:
            return False
        return deadline is None or time.perf_counter() < deadline

    async def worker() -> None:
        nonlocal issued
        while more():
            issued += 1
            records.append(await level.next_request()())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return records


async def _open_loop(level: _Level, gaps: Iterator[float], count: int | None, duration: float | None
                     ) -> list[RequestRecord]:
    """Poisson arrivals: request k goes at the sum of the first k gaps (the first at once)."""
    tasks: list[asyncio.Task[RequestRecord]] = []
    t0 = time.perf_counter()
    at = 0.0
    try:
        while count is None or len(tasks) < count:
            if duration is not None and at >= duration:
                break
            delay = t0 + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(level.next_request()()))
            at += next(gaps)
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()


async def _warmup(level: _Level, count: int, concurrency: int) -> None:
    if count:
        await _closed_loop(level, max(1, min(concurrency, count)), count, None)


async def _run_level(session: aiohttp.ClientSession, base_url: str, model: str, workload: Workload,
                     scenario: str, concurrency: int | None, rate: float | None, dataset: list[dict] | None,
                     slo: dict[str, float] | None, num_gpus: int, seed: int, api: str, timeout: float,
                     pool: WorkerPool | None = None) -> LevelResult:
    source = PromptSource(scenario, shape_rng(seed, scenario, concurrency, rate),
                          prompt_rng(seed, scenario, concurrency, rate), dataset)
    level = _Level(session, base_url, model, api, timeout, source)
    warm = workload.warmup_requests
    await _warmup(level, warm, concurrency if concurrency is not None else warm)  # rate: all warm-up at once
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if pool is not None:
        records, load = await _on_pool(pool, level, workload, scenario, concurrency, rate, seed, dataset)
    else:
        if concurrency is not None:
            records = await _closed_loop(level, concurrency, workload.num_requests, workload.duration)
        else:
            assert rate is not None
            records = await _open_loop(level, arrival_gaps(seed, scenario, rate), workload.num_requests,
                                       workload.duration)
        load = ClientLoad([cpu_share(time.process_time() - cpu0, time.perf_counter() - wall0)])
    metrics = summarize(records, window(records), slo, num_gpus)
    metrics["client_cpu"] = load.busiest
    warning = load.warning()
    return LevelResult(scenario=scenario, concurrency=concurrency, rate=rate, metrics=metrics,
                       errors=error_sample(records), warnings=[warning] if warning else [],
                       requests=request_sample(records))


async def _on_pool(pool: WorkerPool, level: _Level, workload: Workload, scenario: str, concurrency: int | None,
                   rate: float | None, seed: int, dataset: list[dict] | None
                   ) -> tuple[list[RequestRecord], ClientLoad]:
    """The level on the client processes; the schedule continues the stream the warm-up drew from."""
    count, duration = workload.num_requests, workload.duration
    template = LevelJob(level.base_url, level.model, level.api, level.timeout, count=count, duration=duration)

    def draw() -> tuple:
        prompt, shape = level.source.next()
        return prompt, shape.output_tokens

    if concurrency is not None:
        if count is not None:
            template.requests = [draw() for _ in range(count)]
        else:
            template.lazy = LazySchedule(scenario, seed, concurrency, rate, dataset, workload.warmup_requests)
        run = functools.partial(pool.closed_loop, template, concurrency)
    else:
        assert rate is not None
        arrivals, at, gaps = [], 0.0, arrival_gaps(seed, scenario, rate)
        while (count is None or len(arrivals) < count) and (duration is None or at < duration):
            arrivals.append((at, draw()))
            at += next(gaps)
        run = functools.partial(pool.open_loop, template, arrivals)
    try:
        return await asyncio.to_thread(run)
    except asyncio.CancelledError:
        pool.stop.set()  # the processes drop the level; the thread returns once they have
        raise


async def _until_stopped(work: Awaitable[LevelResult], stop: asyncio.Event | None) -> LevelResult | None:
    """The level's result, or None when ``stop`` was set first (the level's requests are cancelled)."""
    task = asyncio.ensure_future(work)
    if stop is None:
        return await task
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if stop.is_set() and (task.cancelled() or task.exception() is not None):
        return None
    return task.result()


async def run_benchmark(base_url: str, model: str, workload: Workload, slo: dict[str, float] | None = None,
                        num_gpus: int = 1, seed: int = 0, api: str = "chat", request_timeout: float = 600,
                        on_level: LevelCallback | None = None, stop: asyncio.Event | None = None,
                        workers: int | None = None) -> BenchmarkResult:
    """Run every level of ``workload`` in order and summarize each.

    After each level ``on_level(level)`` may return False to stop (``result.pruned``). Setting ``stop``
    cancels the running level's requests and returns the levels completed so far. A level bounded by
    both ``num_requests`` and ``duration`` ends at whichever comes first. ``workers`` client processes
    send the levels (``bench.workers``; None: ``default_workers``, 1: this process alone).
    """
    if api not in APIS:
        raise ValueError(f"api {api!r} is not one of: {', '.join(APIS)}")
    dataset = load_dataset(workload.dataset) if workload.dataset else None
    result = BenchmarkResult()
    processes = default_workers(workload.levels()) if workers is None else workers
    if processes < 1:
        raise ValueError(f"workers must be >= 1, got {processes}")
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(WorkerPool(processes)) if processes > 1 else None
        await _levels(base_url, model, workload, slo, num_gpus, seed, api, request_timeout, on_level, stop,
                      dataset, pool, result)
    return result


async def _levels(base_url: str, model: str, workload: Workload, slo: dict[str, float] | None, num_gpus: int,
                  seed: int, api: str, request_timeout: float, on_level: LevelCallback | None,
                  stop: asyncio.Event | None, dataset: list[dict] | None, pool: WorkerPool | None,
                  result: BenchmarkResult) -> None:
    async with make_session() as session:
        for scenario, concurrency, rate in workload.levels():
            if stop is not None and stop.is_set():
                break
            level = await _until_stopped(
                _run_level(session, base_url, model, workload, scenario, concurrency, rate, dataset, slo,
                           num_gpus, seed, api, request_timeout, pool), stop)
            if level is None:
                break
            result.levels.append(level)
            if on_level is not None and on_level(level) is False:
                result.pruned = True
                break


def benchmark(base_url: str, model: str, workload: Workload, slo: dict[str, float] | None = None,
              num_gpus: int = 1, seed: int = 0, api: str = "chat", request_timeout: float = 600,
              on_level: LevelCallback | None = None, cancel: threading.Event | None = None,
              workers: int | None = None) -> BenchmarkResult:
    """``run_benchmark`` from synchronous code, in a fresh event loop. ``cancel`` (a thread event) acts
    like ``stop``: setting it from another thread ends the benchmark promptly."""

    async def main() -> BenchmarkResult:
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch(cancel, stop)) if cancel is not None else None
        try:
            return await run_benchmark(base_url, model, workload, slo, num_gpus, seed, api, request_timeout,
                                       on_level, stop, workers)
        finally:
            if watcher is not None:
                watcher.cancel()

    return run_loop(main())


async def _watch(cancel: threading.Event, stop: asyncio.Event, interval: float = 0.1) -> None:
    while not cancel.is_set():
        await asyncio.sleep(interval)
    stop.set()

