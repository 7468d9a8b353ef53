"""The roofline cost model's magnitudes, the memory layout at start-up, and a replaceable cost model."""

import pytest

from autotuner.sim.costmodel import CostModel, RooflineCostModel, StepWork
from autotuner.sim.engine import SimEngine
from autotuner.sim.errors import SimStartupError
from autotuner.hardware.gpus import GIB, get_gpu
from autotuner.hardware.models import load_model
from autotuner.sim.virtual import simulate_benchmark
from autotuner.spec.workload import Workload

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"


def roofline(model=LLAMA, gpu="h100", **kw):
    return RooflineCostModel(load_model(model), get_gpu(gpu), **kw)


def decode(cost, batch, context=1000, graph=True):
    return cost.step_time(StepWork(decode_batch=batch, decode_context_tokens=batch * context, graph=graph))


def prefill(cost, tokens):
    return cost.step_time(StepWork(prefill_chunks=((tokens, 0),)))


def test_llama_8b_on_one_h100_has_realistic_step_times():
    cost = roofline()
    assert isinstance(cost, CostModel)
    assert 0.006 <= decode(cost, 1) <= 0.008
    assert 0.010 <= decode(cost, 64) <= 0.014
    assert decode(cost, 1) < decode(cost, 32) < decode(cost, 64) < decode(cost, 128)
    assert 0.050 <= prefill(cost, 2000) <= 0.100
    assert cost.step_time(StepWork()) == 0.0


def test_longer_contexts_cost_more_and_eager_mode_adds_launch_overhead():
    cost = roofline()
    assert decode(cost, 32, context=4000) > decode(cost, 32, context=500)
    assert decode(cost, 8, graph=False) > decode(cost, 8, graph=True) + 0.001
    chunked = cost.step_time(StepWork(prefill_chunks=((2000, 8000),)))
    assert chunked > prefill(cost, 2000)  # attention over the cached context


def test_parallelism_and_quantization_change_time_and_memory():
    one, two = roofline(), roofline(tp=2)
    assert decode(two, 1) < decode(one, 1)
    assert two.weight_bytes_per_gpu() == pytest.approx(one.weight_bytes_per_gpu() / 2, rel=0.01)
    assert two.kv_bytes_per_token_per_gpu() == one.kv_bytes_per_token_per_gpu() // 2
    fp8 = roofline(quantization="fp8")
    assert fp8.weight_bytes_per_gpu() == pytest.approx(one.weight_bytes_per_gpu() / 2, rel=0.01)
    assert prefill(fp8, 4000) < 0.7 * prefill(one, 4000)  # FP8 tensor cores
    assert decode(fp8, 1) < 0.7 * decode(one, 1)  # half the weight bytes
    a100_fp8 = roofline(gpu="a100", quantization="fp8")
    assert prefill(a100_fp8, 4000) == pytest.approx(prefill(roofline(gpu="a100"), 4000), rel=0.05)  # no FP8 cores
    assert roofline(kv_dtype="fp8_e5m2").kv_bytes_per_token_per_gpu() == one.kv_bytes_per_token_per_gpu() // 2
    assert one.kv_bytes_per_token_per_gpu() == 2 * 32 * 8 * 128 * 2


def test_moe_holds_all_experts_but_computes_with_the_active_ones():
    moe, dense = roofline("Qwen/Qwen3-30B-A3B"), roofline("Qwen/Qwen3-32B")
    assert moe.weight_bytes_per_gpu() > 0.85 * dense.weight_bytes_per_gpu()
    assert prefill(moe, 4000) < 0.25 * prefill(dense, 4000)
    assert decode(moe, 1) < 0.5 * decode(dense, 1)
    assert decode(moe, 64) > 2 * decode(moe, 1)  # a big batch touches most experts


def test_memory_layout_and_its_failures():
    engine = SimEngine.from_argv(["--model-path", LLAMA])
    mem = engine.memory
    assert 14 * GIB < mem.weight_bytes < 15.5 * GIB
    assert 400_000 < mem.kv_tokens < 500_000
    assert any("max_total_num_tokens=" in line for line in engine.startup_lines())
    more = SimEngine.from_argv(["--model-path", LLAMA, "--mem-fraction-static", "0.92"]).memory.kv_tokens
    assert more > mem.kv_tokens
    with pytest.raises(SimStartupError, match="CUDA out of memory"):
        SimEngine.from_argv(["--model-path", "meta-llama/Llama-3.1-70B"])  # weights alone do not fit
    SimEngine.from_argv(["--model-path", "meta-llama/Llama-3.1-70B", "--tp", "4"])
    vllm = SimEngine.from_argv(["--personality", "vllm", LLAMA])
    assert any("GPU KV cache size" in line for line in vllm.startup_lines())
    smaller = SimEngine.from_argv(["--personality", "vllm", LLAMA, "--max-num-batched-tokens", "32768"])
    assert smaller.memory.kv_tokens < vllm.memory.kv_tokens  # a bigger profiled step leaves less for KV


class ConstantCost:
    """A stand-in cost model: every step takes 10 ms."""

    def __init__(self, inner):
        self.inner = inner

    def step_time(self, work):
        return 0.010 if work.tokens else 0.0

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_the_cost_model_is_replaceable():
    inner = roofline()
    engine = SimEngine.from_argv(["--model-path", LLAMA], cost_model=ConstantCost(inner))
    workload = Workload(scenarios=["D(64,16)"], concurrency=[2], num_requests=4)
    m = simulate_benchmark([], workload, engine=engine).levels[0].metrics
    assert m["tpot_p50"] == pytest.approx(0.010, rel=0.01)
