"""Load levels: closed and open loop, warm-up, errors, goodput, pruning, stopping, the rng contract."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from autotuner.bench.runner import benchmark, run_benchmark
from autotuner.bench.seeds import arrival_rng, shape_rng
from autotuner.spec.scenarios import parse_scenario
from autotuner.spec.workload import Workload

from .fake_openai_server import FakeOpenAIServer


def test_throughput_scales_with_concurrency_and_metrics_are_accurate():
    with FakeOpenAIServer(ttft=0.1, itl=0.02) as server:
        result = benchmark(server.base_url, "fake",
                           Workload(scenarios=["D(32,10)"], concurrency=[1, 4], num_requests=8), num_gpus=2)
    one, four = (lv.metrics for lv in result.levels)
    for m in (one, four):
        assert m["ttft_p50"] == pytest.approx(0.100, abs=0.005)
        assert m["itl_p50"] == pytest.approx(0.020, abs=0.005)
        assert m["success_rate"] == 1.0 and m["num_requests"] == 8
        assert m["output_throughput"] == pytest.approx(10 * m["request_throughput"])
        assert m["input_throughput"] == pytest.approx(32 * m["request_throughput"])
        assert m["output_throughput_per_gpu"] == pytest.approx(m["output_throughput"] / 2)
    # One request takes 0.1 + 9 * 0.02 = 0.28 s.
    assert one["request_throughput"] == pytest.approx(1 / 0.28, rel=0.1)
    assert four["request_throughput"] == pytest.approx(4 / 0.28, rel=0.15)
    assert result.pruned is False


def test_warmup_requests_are_sent_but_not_measured():
    with FakeOpenAIServer(ttft=0.0, itl=0.0) as server:
        result = benchmark(server.base_url, "fake", Workload(scenarios=["D(8,4)"], concurrency=[2, 3],
                                                             num_requests=5, warmup_requests=3))
        requests = server.stats["requests"]
    assert requests == 2 * (3 + 5)
    assert [lv.metrics["num_requests"] for lv in result.levels] == [5, 5]


def test_shapes_and_order_follow_the_rng_contract():
    scenario = "U(3,40)/(2,9)"
    with FakeOpenAIServer(ttft=0.0, itl=0.0) as server:
        benchmark(server.base_url, "fake", Workload(scenarios=[scenario], concurrency=[1], num_requests=6,
                                                    warmup_requests=2), seed=5, api="completions")
        bodies = list(server.bodies)
    rng = shape_rng(5, scenario, 1, None)
    shapes = [parse_scenario(scenario).sample(rng) for _ in range(8)]
    assert [b["max_tokens"] for b in bodies] == [s.output_tokens for s in shapes]
    assert [len(b["prompt"].split()) for b in bodies] == [s.input_tokens for s in shapes]


def test_errors_are_counted_and_sampled():
    with FakeOpenAIServer(ttft=0.0, itl=0.0, fail_every=3) as server:
        result = benchmark(server.base_url, "fake", Workload(scenarios=["D(8,4)"], concurrency=[1], num_requests=9))
    level = result.levels[0]
    assert level.metrics["num_errors"] == 3
    assert level.metrics["success_rate"] == pytest.approx(6 / 9)
    assert len(level.errors) == 1 and level.errors[0].startswith("HTTP 500")


def test_goodput_counts_only_requests_meeting_the_slo():
    with FakeOpenAIServer(ttft=0.02, itl=0.001, slow_every=2, slow_extra=0.15) as server:
        result = benchmark(server.base_url, "fake", Workload(scenarios=["D(8,4)"], concurrency=[1], num_requests=6),
                           slo={"ttft_p90": 0.1})
    m = result.levels[0].metrics
    assert m["success_rate"] == 1.0
    assert m["goodput"] == pytest.approx(m["request_throughput"] / 2)


def test_on_level_false_prunes_after_the_first_level():
    seen = []
    with FakeOpenAIServer(ttft=0.0, itl=0.0) as server:
        result = benchmark(server.base_url, "fake",
                           Workload(scenarios=["D(8,4)", "D(16,4)"], concurrency=[1, 2], num_requests=2),
                           on_level=lambda lv: seen.append(lv.label) or False)
        requests = server.stats["requests"]
    assert result.pruned is True
    assert seen == ["D(8,4) c=1"] and len(result.levels) == 1 and requests == 2


def test_all_levels_run_in_order_when_on_level_agrees():
    with FakeOpenAIServer(ttft=0.0, itl=0.0) as server:
        result = benchmark(server.base_url, "fake", Workload(scenarios=["D(8,4)", "E(16)"], concurrency=[2, 1],
                                                             rates=[50], num_requests=2),
                           on_level=lambda lv: True)
    assert [lv.label for lv in result.levels] == ["D(8,4) c=1", "D(8,4) c=2", "D(8,4) rate=50.0/s",
                                                   "E(16) c=1", "E(16) c=2", "E(16) rate=50.0/s"]
    assert result.levels[-1].metrics["output_throughput"] == pytest.approx(
        result.levels[-1].metrics["request_throughput"])  # E(): one output token each


def _expected_arrivals(seed, scenario, rate, duration):
    rng, at, count = arrival_rng(seed, scenario, rate), 0.0, 0
    while at < duration:
        count += 1
        at += rng.expovariate(rate)
    return count


def test_open_loop_sends_poisson_arrivals_for_the_duration():
    rate, duration = 40.0, 1.0
    with FakeOpenAIServer(ttft=0.05, itl=0.005) as server:
        t0 = time.perf_counter()
        result = benchmark(server.base_url, "fake", Workload(scenarios=["D(8,4)"], rates=[rate], duration=duration))
        elapsed = time.perf_counter() - t0
        stats = dict(server.stats)
    m = result.levels[0].metrics
    expected = _expected_arrivals(0, "D(8,4)", rate, duration)
    assert m["num_requests"] == stats["requests"] == expected
    assert 0.5 * rate * duration <= expected <= 1.5 * rate * duration
    assert stats["max_in_flight"] > 1  # open loop: arrivals do not wait for answers
    assert elapsed < duration + 1.0


def test_open_loop_with_a_request_count_sends_exactly_that_many():
    with FakeOpenAIServer(ttft=0.0, itl=0.0) as server:
        result = benchmark(server.base_url, "fake", Workload(scenarios=["D(8,4)"], rates=[200], num_requests=7))
    assert result.levels[0].metrics["num_requests"] == 7


def test_closed_loop_by_duration_stops_issuing_and_waits_for_in_flight():
    with FakeOpenAIServer(ttft=0.05, itl=0.01) as server:  # 0.08 s per request
        result = benchmark(server.base_url, "fake", Workload(scenarios=["D(8,4)"], concurrency=[2], duration=0.4))
    m = result.levels[0].metrics
    assert 6 <= m["num_requests"] <= 12 and m["success_rate"] == 1.0
    assert m["duration"] >= 0.4


def test_stop_cancels_in_flight_requests_promptly():
    async def main(url):
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, stop.set)
        t0 = time.perf_counter()
        result = await run_benchmark(url, "fake", Workload(scenarios=["D(8,4)"], concurrency=[4], num_requests=40),
                                     stop=stop)
        return result, time.perf_counter() - t0

    with FakeOpenAIServer(ttft=5.0, itl=0.0) as server:
        result, elapsed = asyncio.run(main(server.base_url))
    assert result.levels == [] and elapsed < 2.0


def test_dropped_keepalive_connections_do_not_fail_a_level():
    with FakeOpenAIServer(ttft=0.002, itl=0.001, keepalive_timeout=0.0, drop_reused_every=2) as server:
        result = benchmark(server.base_url, "fake", Workload(scenarios=["D(16,4)"], concurrency=[8], num_requests=80))
    assert result.levels[0].metrics["success_rate"] == 1.0, result.levels[0].errors


def test_dataset_prompts_and_output_lengths_are_sent(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [
        {"prompt": "alpha beta gamma", "output_tokens": 3},
        {"messages": [{"role": "user", "content": "delta epsilon"}]},
    ]) + "\n")
    with FakeOpenAIServer(ttft=0.0, itl=0.0) as server:
        result = benchmark(server.base_url, "fake", Workload(scenarios=["D(100,5)"], concurrency=[1],
                                                             num_requests=4, dataset=path))
        bodies = list(server.bodies)
    sent = sorted((b["messages"][0]["content"], b["max_tokens"]) for b in bodies)
    assert sent == [("alpha beta gamma", 3)] * 2 + [("delta epsilon", 5)] * 2
    m = result.levels[0].metrics
    assert m["input_throughput"] / m["request_throughput"] == pytest.approx((3 + 2) / 2)


def test_bad_api_is_rejected():
    with pytest.raises(ValueError, match="chat, completions"):
        benchmark("http://127.0.0.1:1", "m", Workload(), api="responses")


@pytest.mark.slow
def test_a_server_of_known_delays_is_measured_whole_at_concurrency_64():
    # The server runs in its own process (its own core); this process only runs the client.
    from .fake_openai_server import spawn

    with spawn(ttft=0.05, itl=0.01) as url:
        result = benchmark(url, "fake", Workload(scenarios=["D(128,32)"], concurrency=[64], num_requests=384,
                                                 warmup_requests=64))
    m = result.levels[0].metrics
    assert m["success_rate"] == 1.0 and m["num_errors"] == 0
    # The client's share of TTFT at high concurrency is a figure that depends on the machine's load
    # (benchmarks/loadgen_capacity.py prints it); a measurement can never undercut the server's delays.
    assert m["ttft_p50"] >= 0.05
    assert m["request_throughput"] <= 64 / (0.05 + 31 * 0.01)
