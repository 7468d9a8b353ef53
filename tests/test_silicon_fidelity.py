"""The twin against measured runs: row mapping, the held-out split, model shapes, desync, the benchmark script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import autotuner.sim.decode_run as decode_run_module
from autotuner.hardware.models import load_model
from autotuner.sim.costmodel import RooflineCostModel
from autotuner.hardware.gpus import get_gpu
from autotuner.sim.silicon import SiliconRow, held_out, read_rows, row_flags
from autotuner.sim.virtual import simulate_benchmark
from autotuner.spec.workload import Workload

from .silicon_files import shared_silicon

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "silicon_sample.csv"  # 4 rows copied from ../shared/silicon/
SHARED = shared_silicon("silicon_sglang_vllm_agg.csv")


def _row(**changes) -> SiliconRow:
    base = dict(id="x", engine="sglang", version="0.5.9", model="deepseek-ai/DeepSeek-R1", gpu="b200_sxm",
                precision="fp8", gemm_quant="fp8", moe_quant="fp8_block", isl=1024, osl=1024, users=8, tp=4,
                attention_dp=2, moe_tp=1, moe_ep=8, ttft_s=0.1, tpot_s=0.01, config_key="k")
    return SiliconRow(**{**base, **changes})


def test_rows_become_the_engines_own_flags():
    sglang = row_flags(_row())
    assert sglang[:7] == ["--tp-size", "8", "--enable-dp-attention", "--dp-size", "2", "--ep-size", "8"]
    assert "--quantization" in sglang and sglang[sglang.index("--quantization") + 1] == "fp8"
    vllm = row_flags(_row(engine="vllm", gemm_quant="nvfp4", moe_quant="nvfp4"))
    assert vllm[:5] == ["--tensor-parallel-size", "4", "--data-parallel-size", "2", "--enable-expert-parallel"]
    assert vllm[vllm.index("--quantization") + 1] == "modelopt_fp4"
    with pytest.raises(ValueError, match="weight format 'int3' is not one of"):
        row_flags(_row(gemm_quant="int3", moe_quant="int3"))


def test_held_out_split_keeps_configurations_whole():
    rows = read_rows(SAMPLE)
    assert len(rows) == 4 and all(r.ttft_s > 0 and r.tpot_s > 0 for r in rows)
    twins = [_row(config_key="same", isl=isl) for isl in (1024, 8192)]
    assert held_out(twins[0]) == held_out(twins[1])
    keys = [_row(config_key=f"cfg{i}") for i in range(400)]
    share = sum(map(held_out, keys)) / len(keys)
    assert 0.22 < share < 0.38  # about HOLD_OUT_SHARE, by a stable hash


def test_moe_and_mla_shapes_match_their_published_sizes():
    r1, kimi, qwen35 = load_model("deepseek-ai/DeepSeek-R1"), load_model("moonshotai/Kimi-K2.5"), \
        load_model("Qwen/Qwen3.5-397B-A17B")
    assert 660e9 < r1.params < 685e9 and 35e9 < r1.active_params < 40e9
    assert 1.0e12 < kimi.params < 1.06e12
    assert qwen35.kv_layers == 15  # one full-attention layer in four
    b200 = get_gpu("b200_sxm")
    # MLA keeps one latent per token and layer on every GPU: TP does not shrink it
    one, eight = (RooflineCostModel(r1, b200, tp, quantization="fp8").kv_bytes_per_token_per_gpu() for tp in (1, 8))
    assert one == eight == 61 * (512 + 64) * 2
    # experts spread over 8 GPUs: each holds an eighth of them
    tp8 = RooflineCostModel(r1, b200, 8, quantization="fp8")
    assert 80e9 < tp8.weight_bytes_per_gpu() < 90e9


def test_desynchronized_users_queue_less_than_lockstep():
    argv = ["--personality", "vllm", "--gpu", "h100", "--model", "meta-llama/Llama-3.1-8B", "--max-model-len", "4096"]
    workload = Workload(scenarios=["D(1024,256)"], concurrency=[32], num_requests=320)
    lockstep = simulate_benchmark(argv, workload, desync=False).levels[0].metrics
    desync = simulate_benchmark(argv, workload, desync=True).levels[0].metrics
    assert desync["ttft_mean"] < 0.4 * lockstep["ttft_mean"]
    assert desync["ttft_p99"] > 3 * desync["ttft_p50"]  # the first wave's queue is the tail
    light = simulate_benchmark(argv, Workload(scenarios=["D(1024,256)"], concurrency=[4], num_requests=40), desync=True)
    assert light.levels[0].metrics["ttft_mean"] < desync["ttft_mean"]


def test_decode_runs_give_the_same_benchmark_as_single_steps(monkeypatch):
    argv = ["--personality", "sglang", "--gpu", "h100", "--model-path", "Qwen/Qwen3-8B"]
    workload = Workload(scenarios=["N(300,50)/(400,100)"], concurrency=[12], num_requests=48)
    fast = simulate_benchmark(argv, workload).levels[0].metrics
    monkeypatch.setattr(decode_run_module, "MIN_RUN_STEPS", 1 << 40)
    slow = simulate_benchmark(argv, workload).levels[0].metrics
    for key in ("ttft_mean", "tpot_mean", "itl_p90", "output_throughput"):
        assert fast[key] == pytest.approx(slow[key], rel=1e-9)


def test_benchmark_script_reports_held_out_errors_as_json(tmp_path):
    out = tmp_path / "fidelity.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "silicon_fidelity.py"), "--data", str(SAMPLE),
                           "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    assert doc["rows"] == 4 and 0 < doc["covered"] <= 4
    assert set(doc["overall"]) == {"ttft", "tpot", "throughput"}
    assert doc["held_out_rows"] + doc["fit_rows"] <= doc["covered"]
    assert "overall held-out" in done.stdout


@pytest.mark.slow
@pytest.mark.skipif(SHARED is None, reason="../shared/silicon/silicon_sglang_vllm_agg.csv is absent")
def test_nine_in_ten_measured_rows_are_covered():
    from autotuner.sim.engine import SimEngine
    from autotuner.sim.errors import SimStartupError
    from autotuner.sim.predict import engine_argv

    rows = read_rows(SHARED)
    started = 0
    for r in rows:
        try:
            SimEngine.from_argv(engine_argv(r.engine, r.gpu, r.model, row_flags(r)))
            started += 1
        except (SimStartupError, ValueError):
            pass
    assert len(rows) > 1000 and started >= 0.9 * len(rows)
