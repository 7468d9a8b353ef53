"""A whole benchmark against the simulated engine in virtual time: no HTTP, no sleeping.

``simulate_benchmark(argv, workload, ...)`` builds the engine from its command line and replays what
``autotuner.bench.runner`` would send: per level, the same request shapes (``bench.seeds`` streams),
warm-up requests first (not measured), then a closed loop of ``concurrency`` users or Poisson
arrivals at ``rate``. An event loop advances a virtual clock from step to step; each request's
``RequestRecord`` gets the times its client would have seen, and ``bench.metrics.summarize`` makes
the level's metrics. The engine (and its prefix cache) lives on across levels, like a real server.
"""

from __future__ import annotations

import heapq
import random
import itertools
from collections.abc import Callable, Iterator, Sequence

from ..bench.metrics import RequestRecord, error_sample, summarize
from ..bench.prompts import PromptSource, load_dataset, message_text
from ..bench.request_sample import request_sample
from ..bench.result import BenchmarkResult, LevelResult
from ..bench.seeds import arrival_gaps, prompt_rng, shape_rng
from ..spec.scenarios import parse_scenario
from ..spec.workload import Workload
from .decode_run import DecodeRun, decode_run
from .desync import DESYNC_MIN_ROUNDS, all_users_fit, start_offsets
from .engine import SimEngine
from .errors import SimStartupError
from .pacing import CLIENT_LATENCY_S, DELIVERY_LATENCY_S, IDLE_POLL_S, stream_chunk_boundary
from .scheduler import Request, StepResult
from .tokens import block_hashes, synthetic_block_hashes


_ARRIVE, _START, _END, _ISSUE = 0, 1, 2, 3

__all__ = ["SimStartupError", "VirtualClockEngine", "simulate_benchmark"]


class VirtualClockEngine:
    """A ``SimEngine`` driven by an event queue on a virtual clock."""

    def __init__(self, engine: SimEngine, client_latency: float = CLIENT_LATENCY_S,
                 delivery_latency: float = DELIVERY_LATENCY_S, idle_poll: float = IDLE_POLL_S):
        self.engine = engine
        self.now = 0.0
        self.client_latency, self.delivery_latency, self.idle_poll = client_latency, delivery_latency, idle_poll
        self._events: list = []
        self._seq = itertools.count()
        n = len(engine.replicas)
        self._busy = [False] * n
        self._in_flight: list[StepResult | None] = [None] * n
        self._records: dict[str, RequestRecord] = {}
        self._max_tokens: dict[str, int] = {}
        self._done: dict[str, Callable[[], None] | None] = {}
        self._ids = itertools.count()
        self.interval = engine.config.stream_interval

    def _push(self, at: float, kind: int, payload) -> None:
        heapq.heappush(self._events, (at, next(self._seq), kind, payload))

    def send(self, prompt_len: int, max_tokens: int, hashes_for: Callable[[str], Sequence], on_done=None
             ) -> RequestRecord:
        """Issue one request now; ``on_done()`` runs (in virtual time) when its response ends."""
        rid = f"v{next(self._ids)}"
        record = RequestRecord(start=self.now, input_tokens=prompt_len)
        self._records[rid] = record
        self._max_tokens[rid] = max_tokens
        self._done[rid] = on_done
        error = self.engine.check_request(prompt_len, max_tokens)
        if error:
            record.end, record.error = self.now + self.client_latency, f"HTTP 400: {error}"
            if on_done:
                self._push(record.end, _ISSUE, on_done)
            return record
        request = Request(rid, prompt_len, max_tokens, self._through_frontend(prompt_len), hashes_for(rid))
        self._push(request.arrival, _ARRIVE, request)
        return record

    def _through_frontend(self, prompt_len: int) -> float:
        """When a request sent now reaches the scheduler: HTTP, then the front end's fitted per-request cost."""
        cal = self.engine.frontend
        return self.now + self.client_latency + cal.request_overhead_s + cal.tokenize_per_token_s * prompt_len

    def call_at(self, at: float, fn: Callable[[], None]) -> None:
        self._push(at, _ISSUE, fn)

    def run(self) -> None:
        """Process events until nothing is in flight."""
        events = self._events
        while events:
            at, _, kind, payload = heapq.heappop(events)
            self.now = at
            if kind == _END:
                self._deliver(self._in_flight[payload], at)
                self._begin(payload)
            elif kind == _ARRIVE:
                index = self.engine.submit(payload)
                if not self._busy[index]:
                    self._busy[index] = True  # until the start event: more arrivals join the same step
                    self._push(at + self.idle_poll, _START, index)
            elif kind == _START:
                self._begin(payload)
            else:
                payload()
        for record in self._records.values():  # a request the engine never finished
            if not record.end:
                record.end, record.error = self.now, "the engine stopped answering"
        self._records.clear()
        self._max_tokens.clear()
        self._done.clear()

    def _begin(self, index: int) -> None:
        scheduler = self.engine.replicas[index]
        if scheduler.idle:
            self._busy[index] = False
            return
        if self.interval == 1:
            horizon = self._events[0][0] if self._events else float("inf")
            run = decode_run(scheduler, self.now, horizon)
            if run is not None:
                self._deliver_run(run)
                self._busy[index] = True
                self._in_flight[index] = StepResult()  # the run's tokens are delivered; its end starts the next step
                self._push(run.ends[-1], _END, index)
                return
        result = scheduler.step(self.now)
        if not (result.duration or result.emitted or result.failed):
            self._busy[index] = False  # stuck: should not happen, the scheduler drops unservable requests
            return
        self._busy[index] = True
        self._in_flight[index] = result
        self._push(self.now + result.duration, _END, index)

    def _deliver(self, result: StepResult, at: float) -> None:
        records, interval = self._records, self.interval
        at += self.delivery_latency
        for rid, index in result.emitted:
            record = records[rid]
            if index == 0:
                record.first_token = at
            if interval == 1 or stream_chunk_boundary(index, self._max_tokens[rid], interval):
                record.token_times.append(at)
        for rid in result.finished:
            self._close(rid, at, None)
        for rid, why in result.failed:
            self._close(rid, at, why)

    def _deliver_run(self, run: DecodeRun) -> None:
        """The tokens of a decode run: one per request per step, at each step's end (+ delivery)."""
        latency = self.delivery_latency
        times = [t + latency for t in run.ends]
        records = self._records
        for req in run.requests:
            records[req.id].token_times.extend(times)

    def _close(self, rid: str, at: float, error: str | None) -> None:
        record = self._records.pop(rid)
        record.end = at
        record.error = error
        record.output_tokens = self._max_tokens.pop(rid) if error is None else 0
        done = self._done.pop(rid)
        if done is not None:
            self.call_at(at, done)  # the client's next request, once it has seen the end


class _RequestSource:
    """The requests of one level in send order: (prompt tokens, output tokens, hashes for an id)."""

    def __init__(self, scenario: str, seed: int, concurrency: int | None, rate: float | None, block: int,
                 dataset: list[dict] | None):
        self.block = block
        self.key = scenario
        if dataset:
            self.source = PromptSource(scenario, shape_rng(seed, scenario, concurrency, rate),
                                       prompt_rng(seed, scenario, concurrency, rate), dataset)
        else:
            self.source = None
            self.scenario = parse_scenario(scenario)
            self.shapes = shape_rng(seed, scenario, concurrency, rate)

    def next(self) -> tuple[int, int, Callable[[str], Sequence]]:
        if self.source is not None:
            prompt, shape = self.source.next()
            words = (prompt if isinstance(prompt, str) else message_text(prompt)).split()
            hashes = block_hashes(words, self.block)
            return len(words), shape.output_tokens, lambda rid: hashes
        shape = self.scenario.sample(self.shapes)
        n, prefix, block, key = shape.input_tokens, shape.prefix_tokens, self.block, self.key
        return n, shape.output_tokens, lambda rid: synthetic_block_hashes(rid, n, prefix, key, block)


def _closed_loop(clock: VirtualClockEngine, source: _RequestSource, users: int, count: int | None,
                 duration: float | None, offsets: list[float] | None = None) -> list[RequestRecord]:
    records: list[RequestRecord] = []
    deadline = None if duration is None else clock.now + duration

    def more() -> bool:
        return (count is None or len(records) < count) and (deadline is None or clock.now < deadline)

    def issue() -> None:
        if more():
            prompt_len, out, hashes = source.next()
            records.append(clock.send(prompt_len, out, hashes, issue))

    if offsets:
        t0 = clock.now
        for offset in offsets:
            clock.call_at(t0 + offset, issue)
    else:
        for _ in range(users):
            issue()
    clock.run()
    return records


def _open_loop(clock: VirtualClockEngine, source: _RequestSource, gaps: Iterator[float], count: int | None,
               duration: float | None) -> list[RequestRecord]:
    records: list[RequestRecord] = []
    t0 = clock.now
    offset = 0.0

    def issue() -> None:
        nonlocal offset
        prompt_len, out, hashes = source.next()
        records.append(clock.send(prompt_len, out, hashes))
        offset += next(gaps)
        if (count is None or len(records) < count) and (duration is None or offset < duration):
            clock.call_at(t0 + offset, issue)

    if count != 0:
        clock.call_at(t0, issue)
    clock.run()
    return records


def _desynchronized_loop(clock: VirtualClockEngine, source: _RequestSource, engine: SimEngine, scenario: str,
                         users: int, workload: Workload, dataset: bool) -> list[RequestRecord]:
    """A closed loop as a real benchmark runs it: the first wave at once, then users out of step (``desync``)."""
    count = workload.num_requests
    shape = parse_scenario(scenario)
    mean_in, mean_out = shape_mean(shape, "input"), shape_mean(shape, "output")
    rounds = (count or 0) / users if count is not None else DESYNC_MIN_ROUNDS
    if dataset or rounds < DESYNC_MIN_ROUNDS or not all_users_fit(engine, mean_in, mean_out, users):
        return _closed_loop(clock, source, users, count, workload.duration)
    wave = _closed_loop(clock, source, users, users if count is None else min(users, count), None)
    rest = None if count is None else count - len(wave)
    if rest == 0:
        return wave
    offsets = start_offsets(engine, mean_in, mean_out, users)
    return wave + _closed_loop(clock, source, users, rest, workload.duration, offsets)


def shape_mean(scenario, which: str) -> float:
    """Mean input or output tokens of a scenario's requests (from a fixed sample: any scenario kind)."""
    rng = random.Random(0)
    samples = [scenario.sample(rng) for _ in range(64)]
    return sum(getattr(s, f"{which}_tokens") for s in samples) / len(samples)


def simulate_benchmark(argv: list[str], workload: Workload, slo: dict[str, float] | None = None,
                       num_gpus: int | None = None, seed: int = 0,
                       on_level: Callable[[LevelResult], bool] | None = None,
                       engine: SimEngine | None = None, desync: bool = False) -> BenchmarkResult:
    """The benchmark ``autotuner.bench.runner`` would measure against ``python -m autotuner.sim <argv>``.

    ``argv``: the simulated engine's arguments (``--personality``, ``--gpu``, the engine's own flags).
    ``num_gpus`` defaults to tp x pp x dp. Raises ``SimStartupError`` when the engine would not start.
    ``on_level(level)`` returning False stops after that level (``result.pruned``). ``desync``: closed-loop
    users start out of step, as in a real run's steady state on real GPUs (``sim.desync``: what
    ``predict`` answers); False (default): all at once, as our own client drives the simulated engine
    in real time, so ``--virtual-time`` and real time agree.
    """
    engine = engine or SimEngine.from_argv(argv)
    gpus = num_gpus or engine.config.num_gpus
    clock = VirtualClockEngine(engine)
    dataset = load_dataset(workload.dataset) if workload.dataset else None
    result = BenchmarkResult()
    for scenario, concurrency, rate in workload.levels():
        source = _RequestSource(scenario, seed, concurrency, rate, engine.block_size, dataset)
        warm = workload.warmup_requests
        if concurrency is not None:
            if warm:
                _closed_loop(clock, source, max(1, min(concurrency, warm)), warm, None)
            if desync:
                records = _desynchronized_loop(clock, source, engine, scenario, concurrency, workload, bool(dataset))
            else:
                records = _closed_loop(clock, source, concurrency, workload.num_requests, workload.duration)
        else:
            if warm:
                _closed_loop(clock, source, warm, warm, None)  # as the real runner: all warm-up at once
            records = _open_loop(clock, source, arrival_gaps(seed, scenario, rate), workload.num_requests,
                                 workload.duration)
        window = (max(r.end for r in records) - min(r.start for r in records)) if records else 0.0
        level = LevelResult(scenario=scenario, concurrency=concurrency, rate=rate,
                            metrics=summarize(records, window, slo, gpus), errors=error_sample(records),
                            requests=request_sample(records))
        result.levels.append(level)
        if on_level is not None and on_level(level) is False:
            result.pruned = True
            break
    return result
