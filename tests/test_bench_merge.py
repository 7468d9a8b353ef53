"""Multi-process load generation: exact merge of per-process records, and the workers mode end to end."""

from __future__ import annotations

import math
import random

import pytest

from autotuner.bench.merge import ClientLoad, merge_records, window
from autotuner.bench.metrics import RequestRecord, percentile, summarize
from autotuner.bench.runner import benchmark
from autotuner.bench.workers import default_workers
from autotuner.spec.workload import Workload

from .fake_openai_server import FakeOpenAIServer


def _records(n: int, seed: int) -> list[RequestRecord]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        start = rng.uniform(0, 10)
        first = start + rng.expovariate(10)
        times, t = [first], first
        for _ in range(rng.randrange(0, 40)):
            t += rng.expovariate(50)
            times.append(t)
        error = "HTTP 500: boom" if rng.random() < 0.05 else None
        out.append(RequestRecord(start=start, end=t + 0.001, first_token=first, token_times=times,
                                 input_tokens=rng.randrange(1, 200), output_tokens=len(times), error=error))
    return out


def _split(records: list[RequestRecord], parts: int, seed: int) -> list[list[RequestRecord]]:
    rng = random.Random(seed)
    out: list[list[RequestRecord]] = [[] for _ in range(parts)]
    for r in records:
        out[rng.randrange(parts)].append(r)
    return out


def _same(a: dict[str, float], b: dict[str, float]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert (math.isnan(a[key]) and math.isnan(b[key])) or a[key] == pytest.approx(b[key], rel=1e-12), key


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_merged_records_summarize_exactly_like_one_process(parts):
    records = _records(500, seed=parts)
    slo = {"ttft_p90": 0.2, "itl_p99": 0.08}
    single = summarize(records, window(records), slo, num_gpus=2)
    merged = merge_records(_split(records, parts, seed=parts + 100))
    assert len(merged) == len(records)
    assert [r.start for r in merged] == sorted(r.start for r in records)
    _same(summarize(merged, window(merged), slo, num_gpus=2), single)


def test_averaging_per_process_percentiles_would_not_be_exact():
    # Why the merge keeps raw records: the mean of per-process p99s is not the p99 of all requests.
    records = _records(400, seed=5)
    parts = _split(records, 4, seed=6)
    per_part = [percentile([r.ttft for r in part if r.ok], 99) for part in parts]
    exact = percentile([r.ttft for r in records if r.ok], 99)
    assert sum(per_part) / len(per_part) != pytest.approx(exact, rel=1e-6)


def test_window_spans_all_processes():
    a = [RequestRecord(start=1.0, end=2.0)]
    b = [RequestRecord(start=0.5, end=1.5), RequestRecord(start=1.2, end=3.0)]
    assert window(merge_records([a, b])) == pytest.approx(2.5)
    assert window([]) == 0.0


def test_client_load_warns_only_when_a_process_is_saturated():
    assert ClientLoad([0.4, 0.5]).warning() is None
    warning = ClientLoad([0.5, 0.97]).warning()
    assert warning is not None and "97%" in warning and "2 client processes" in warning
    assert "the client process" in (ClientLoad([0.95]).warning() or "")


def test_default_workers_only_for_heavy_levels():
    light = [("D(8,8)", 8, None)]
    heavy = [("D(8,8)", 8, None), ("D(8,8)", 256, None)]
    assert default_workers(light, cores=8) == 1
    assert default_workers(heavy, cores=8) == 7
    assert default_workers([("D(8,8)", None, 200.0)], cores=4) == 3
    assert default_workers(heavy, cores=2) == 2  # two loops of half the streams each read tokens sooner
    assert default_workers(heavy, cores=1) == 1


def _run(server: FakeOpenAIServer, workload: Workload, workers: int):
    server.timings.clear()
    result = benchmark(server.base_url, "fake", workload, seed=3, workers=workers)
    return result, sorted(prompt for prompt, _, _ in server.timings)


@pytest.mark.slow
def test_workers_send_the_same_requests_as_one_process_and_merge_them():
    workload = Workload(scenarios=["U(4,24)/(2,12)"], concurrency=[6], num_requests=40, warmup_requests=3)
    with FakeOpenAIServer(ttft=0.01, itl=0.002) as server:
        one, prompts_one = _run(server, workload, workers=1)
        server.stats["max_in_flight"] = 0
        many, prompts_many = _run(server, workload, workers=3)
        in_flight = server.stats["max_in_flight"]
    assert prompts_many == prompts_one  # the shared schedule: the very requests, warm-up included
    level = many.levels[0]
    m, m1 = level.metrics, one.levels[0].metrics
    assert m["num_requests"] == 40 and m["num_errors"] == 0
    assert m["input_throughput"] * m["duration"] == pytest.approx(m1["input_throughput"] * m1["duration"])
    assert m["output_throughput"] * m["duration"] == pytest.approx(m1["output_throughput"] * m1["duration"])
    assert in_flight <= 6  # the concurrency is split over the processes, not multiplied
    assert 0 < m["client_cpu"] <= 1.5
    assert m["ttft_p50"] >= 0.01  # never earlier than the server sends (timings are for benchmarks/)


@pytest.mark.slow
def test_workers_open_loop_and_duration_levels():
    rate = Workload(scenarios=["D(8,4)"], rates=[40.0], num_requests=30)
    timed = Workload(scenarios=["D(8,4)"], concurrency=[4], duration=0.6)
    with FakeOpenAIServer(ttft=0.005, itl=0.001) as server:
        _, prompts_one = _run(server, rate, workers=1)
        result, prompts_many = _run(server, rate, workers=2)
        assert prompts_many == prompts_one
        assert result.levels[0].metrics["num_requests"] == 30
        # Arrivals keep their schedule across processes: 30 requests at 40/s take about 0.75 s.
        assert 0.4 < result.levels[0].metrics["duration"] < 3.0
        timed_result, prompts_timed = _run(server, timed, workers=2)
    n = int(timed_result.levels[0].metrics["num_requests"])
    assert n > 4 and len(prompts_timed) == n and timed_result.levels[0].metrics["num_errors"] == 0
    # A duration-bounded level draws its stream in each process: the requests are the first n of it.
    with FakeOpenAIServer(ttft=0.005, itl=0.001) as server:
        _, first_n = _run(server, Workload(scenarios=["D(8,4)"], concurrency=[4], num_requests=n), workers=1)
    assert prompts_timed == first_n
