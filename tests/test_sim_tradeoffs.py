"""Every tunable flag of the simulated engine moves some metric the way it does on the real engine.

All in virtual time (``simulate_benchmark``), which must also be fast.
"""

import time

import pytest

from autotuner.bench.result import LevelResult
from autotuner.sim.engine import SimEngine
from autotuner.sim.errors import SimStartupError
from autotuner.sim.virtual import simulate_benchmark
from autotuner.spec.workload import Workload

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
SGLANG = ["--model-path", LLAMA]
VLLM = ["--personality", "vllm", LLAMA]
STEADY = Workload(scenarios=["D(512,128)"], concurrency=[64], num_requests=128)
LONG_PROMPTS = Workload(scenarios=["D(16000,32)"], concurrency=[2], num_requests=8)
PREFILL_HEAVY = Workload(scenarios=["N(3000,1000)/(200,50)"], rates=[4], num_requests=120)
LONG_OUTPUTS = Workload(scenarios=["D(200,1000)"], concurrency=[64], num_requests=96)
SHARED_PREFIX = Workload(scenarios=["P(2000,100)/64"], concurrency=[16], num_requests=96)


def metrics(argv, workload=STEADY, engine=None):
    return simulate_benchmark(argv, workload, engine=engine).levels[0].metrics


def test_a_level_of_200_requests_is_fast_and_well_formed():
    workload = Workload(scenarios=["D(512,256)"], concurrency=[32], num_requests=200, warmup_requests=8)
    start = time.process_time()
    result = simulate_benchmark(SGLANG, workload, slo={"ttft_p99": 10.0})
    assert time.process_time() - start < 1.0
    m = result.levels[0].metrics
    assert m["num_requests"] == 200 and m["success_rate"] == 1.0 and m["goodput"] > 0
    assert m["output_throughput"] == pytest.approx(200 * 256 / m["duration"])
    assert 0.005 < m["tpot_p50"] < 0.02


def test_levels_follow_the_workload_and_on_level_can_stop():
    workload = Workload(scenarios=["D(128,64)", "D(256,64)"], concurrency=[1, 8], rates=[5.0], num_requests=10)
    full = simulate_benchmark(SGLANG, workload)
    assert [(lv.scenario, lv.concurrency, lv.rate) for lv in full.levels] == workload.levels()
    seen: list[LevelResult] = []
    stopped = simulate_benchmark(SGLANG, workload, on_level=lambda lv: seen.append(lv) or len(seen) < 2)
    assert len(stopped.levels) == 2 and stopped.pruned and not full.pruned


def test_same_seed_same_result_and_duration_bounded_levels():
    workload = Workload(scenarios=["U(100,300)/(20,60)"], rates=[10.0], duration=5.0)
    a, b = metrics(SGLANG, workload), metrics(SGLANG, workload)
    assert a == b
    assert 30 < a["num_requests"] < 80  # about rate x duration
    other = simulate_benchmark(SGLANG, workload, seed=1).levels[0].metrics
    assert other["num_requests"] != a["num_requests"] or other["ttft_p50"] != a["ttft_p50"]


def test_num_gpus_defaults_to_the_parallel_layout():
    m = metrics(SGLANG + ["--tp", "2", "--dp", "2"])
    assert m["output_throughput_per_gpu"] == pytest.approx(m["output_throughput"] / 4)


def test_startup_failures_raise_with_the_engines_message():
    with pytest.raises(SimStartupError, match="out of memory"):
        simulate_benchmark(SGLANG + ["--mem-fraction-static", "0.99"], STEADY)
    with pytest.raises(SimStartupError, match="Not enough memory"):
        simulate_benchmark(SGLANG + ["--mem-fraction-static", "0.15"], STEADY)
    with pytest.raises(SimStartupError, match="No available memory"):
        simulate_benchmark(VLLM + ["--gpu-memory-utilization", "0.2"], STEADY)


@pytest.mark.parametrize("base", [SGLANG + ["--max-running-requests"], VLLM + ["--max-num-seqs"]])
def test_more_running_requests_more_throughput_slower_tokens(base):
    few, many = metrics(base + ["8"]), metrics(base + ["64"])
    assert many["output_throughput"] > 1.5 * few["output_throughput"]
    assert many["tpot_p50"] > few["tpot_p50"]
    assert many["ttft_p50"] < few["ttft_p50"]  # queueing for a slot dominates


def test_larger_prefill_chunks_shorten_long_prompt_ttft_and_need_more_memory():
    small = metrics(SGLANG + ["--chunked-prefill-size", "512"], LONG_PROMPTS)
    large = metrics(SGLANG + ["--chunked-prefill-size", "16384"], LONG_PROMPTS)
    assert large["ttft_p50"] < small["ttft_p50"]
    big = SGLANG + ["--mem-fraction-static", "0.93", "--max-prefill-tokens", "32768"]
    SimEngine.from_argv(big + ["--chunked-prefill-size", "8192"])
    with pytest.raises(SimStartupError, match="out of memory"):
        SimEngine.from_argv(big + ["--chunked-prefill-size", "32768"])


@pytest.mark.parametrize("small, large", [
    (SGLANG + ["--enable-mixed-chunk", "--chunked-prefill-size", "2048"], SGLANG + ["--enable-mixed-chunk"]),
    (VLLM + ["--max-num-batched-tokens", "2048"], VLLM + ["--max-num-batched-tokens", "8192"]),
])
def test_larger_prefill_budget_hurts_running_decodes(small, large):
    s, l_ = metrics(small, PREFILL_HEAVY), metrics(large, PREFILL_HEAVY)
    assert l_["itl_p99"] > 1.5 * s["itl_p99"]
    assert l_["ttft_p50"] < s["ttft_p50"]


def test_mixed_chunk_keeps_decodes_going_during_prefill():
    plain, mixed = metrics(SGLANG, PREFILL_HEAVY), metrics(SGLANG + ["--enable-mixed-chunk"], PREFILL_HEAVY)
    assert mixed["itl_p99"] < plain["itl_p99"]


@pytest.mark.parametrize("personality, flag, low, high, ctx", [
    (SGLANG, "--mem-fraction-static", "0.22", "0.3", ["--context-length", "4096"]),
    (VLLM, "--gpu-memory-utilization", "0.25", "0.35", ["--max-model-len", "4096"]),
])
def test_more_kv_memory_less_queueing_and_preemption(personality, flag, low, high, ctx):
    tight_engine = SimEngine.from_argv(personality + [flag, low] + ctx)
    roomy_engine = SimEngine.from_argv(personality + [flag, high] + ctx)
    assert roomy_engine.memory.kv_tokens > 1.5 * tight_engine.memory.kv_tokens
    tight = metrics([], LONG_OUTPUTS, engine=tight_engine)
    roomy = metrics([], LONG_OUTPUTS, engine=roomy_engine)
    assert roomy["ttft_p50"] < tight["ttft_p50"]
    assert roomy["output_throughput"] > tight["output_throughput"]
    assert tight_engine.stats().preemptions > roomy_engine.stats().preemptions


def test_schedule_conservativeness_trades_admissions_for_retractions():
    args = SGLANG + ["--max-total-tokens", "30000", "--schedule-conservativeness"]
    bold, careful = SimEngine.from_argv(args + ["0.3"]), SimEngine.from_argv(args + ["2"])
    metrics([], LONG_OUTPUTS, engine=bold)
    metrics([], LONG_OUTPUTS, engine=careful)
    assert bold.stats().preemptions > careful.stats().preemptions


@pytest.mark.parametrize("personality, tp", [(SGLANG, "--tp"), (VLLM, "-tp")])
def test_tensor_parallel_lowers_latency_and_per_gpu_throughput(personality, tp):
    one, two = metrics(personality), metrics(personality + [tp, "2"])
    assert two["tpot_p50"] < one["tpot_p50"] and two["ttft_p50"] < one["ttft_p50"]
    assert two["output_throughput_per_gpu"] < one["output_throughput_per_gpu"]


def test_data_parallel_adds_throughput():
    one, two = metrics(SGLANG), metrics(SGLANG + ["--dp", "2"])
    assert two["output_throughput"] > 1.2 * one["output_throughput"]
    assert two["output_throughput_per_gpu"] < one["output_throughput_per_gpu"]


@pytest.mark.parametrize("graphs_off", [SGLANG + ["--disable-cuda-graph"], SGLANG + ["--cuda-graph-max-bs", "16"],
                                        VLLM + ["--enforce-eager"]])
def test_without_cuda_graphs_decoding_is_slower(graphs_off):
    base = SGLANG if "--model-path" in graphs_off else VLLM
    assert metrics(graphs_off)["tpot_p50"] > 1.05 * metrics(base)["tpot_p50"]


def test_captured_cuda_graphs_cost_memory():
    small = SimEngine.from_argv(VLLM + ["--cuda-graph-sizes", "64"])
    large = SimEngine.from_argv(VLLM + ["--cuda-graph-sizes", "1024"])
    assert large.memory.graph_bytes > small.memory.graph_bytes
    assert large.memory.kv_tokens < small.memory.kv_tokens
    eager = SimEngine.from_argv(VLLM + ["--enforce-eager"])
    assert eager.memory.kv_tokens > small.memory.kv_tokens


@pytest.mark.parametrize("personality, off", [(SGLANG, ["--disable-radix-cache"]),
                                              (VLLM, ["--no-enable-prefix-caching"])])
def test_prefix_caching_helps_shared_prefixes(personality, off):
    cached, uncached = metrics(personality, SHARED_PREFIX), metrics(personality + off, SHARED_PREFIX)
    assert cached["ttft_p50"] < 0.5 * uncached["ttft_p50"]
    assert cached["output_throughput"] > uncached["output_throughput"]


def test_quantization_and_kv_dtype():
    base, fp8 = SimEngine.from_argv(SGLANG), SimEngine.from_argv(SGLANG + ["--quantization", "fp8"])
    assert fp8.memory.weight_bytes < 0.6 * base.memory.weight_bytes
    assert metrics([], engine=fp8)["tpot_p50"] < metrics([], engine=base)["tpot_p50"]
    fp8_kv = SimEngine.from_argv(SGLANG + ["--kv-cache-dtype", "fp8_e4m3"])
    assert fp8_kv.memory.kv_tokens > 1.9 * base.memory.kv_tokens
    assert metrics([], engine=fp8_kv)["tpot_p50"] < metrics([], engine=SimEngine.from_argv(SGLANG))["tpot_p50"]


@pytest.mark.parametrize("slower", [["--disable-overlap-schedule"]])
def test_overlap_schedule_hides_scheduling(slower):
    assert metrics(SGLANG + slower)["tpot_p50"] > metrics(SGLANG)["tpot_p50"]


def test_torch_compile_speeds_up_small_decode_batches():
    small = Workload(scenarios=["D(128,128)"], concurrency=[4], num_requests=16)
    assert metrics(SGLANG + ["--enable-torch-compile"], small)["tpot_p50"] < metrics(SGLANG, small)["tpot_p50"]


def test_stream_interval_makes_chunkier_streams():
    small = Workload(scenarios=["D(128,128)"], concurrency=[4], num_requests=16)
    every, fourth = metrics(SGLANG, small), metrics(SGLANG + ["--stream-interval", "4"], small)
    assert fourth["itl_p50"] > 3 * every["itl_p50"]
    assert fourth["tpot_p50"] <= every["tpot_p50"]


def test_gpus_and_models_have_realistic_ordering():
    small = Workload(scenarios=["D(128,128)"], concurrency=[8], num_requests=16)
    tpot = {gpu: metrics(SGLANG + ["--gpu", gpu], small)["tpot_p50"] for gpu in ("h200", "h100", "a100", "l40s")}
    assert tpot["h200"] < tpot["h100"] < tpot["a100"] < tpot["l40s"]
    assert metrics(["--model-path", "meta-llama/Llama-3.2-1B"], small)["tpot_p50"] < tpot["h100"]


def test_noise_is_seeded():
    small = Workload(scenarios=["D(128,32)"], concurrency=[4], num_requests=12)
    quiet = metrics(SGLANG, small)
    a = metrics(SGLANG + ["--noise", "0.1", "--seed", "1"], small)
    assert a == metrics(SGLANG + ["--noise", "0.1", "--seed", "1"], small)
    assert a["tpot_p50"] != quiet["tpot_p50"]
    assert a["tpot_p50"] != metrics(SGLANG + ["--noise", "0.1", "--seed", "2"], small)["tpot_p50"]
