"""``autotuner.sim.predict``: one load level on the twin, as a library call and as ``autotuner predict``."""

from __future__ import annotations

import pytest

from autotuner.hardware.gpus import get_gpu
from autotuner.sim.errors import SimStartupError
from autotuner.sim.predict import flags_to_argv, predict


def test_flags_become_an_argument_list():
    argv = flags_to_argv({"tp-size": 2, "--enable-mixed-chunk": True, "disable_radix_cache": False,
                          "cuda-graph-sizes": [8, 16]})
    assert argv == ["--tp-size", "2", "--enable-mixed-chunk", "--cuda-graph-sizes", "8", "16"]


def test_prediction_has_metrics_memory_and_cost_model():
    p = predict("sglang", "h100", "meta-llama/Llama-3.1-8B", {"tp-size": 1}, "D(512,64)", concurrency=4)
    m = p.metrics
    assert 0 < m["ttft_mean"] < m["e2e_mean"]
    assert 0 < m["tpot_mean"] < 0.1
    # closed loop of 4 users: throughput is about users x output tokens / request time
    expected = 4 * 64 / (m["ttft_mean"] + 63 * m["tpot_mean"])
    assert m["output_throughput"] == pytest.approx(expected, rel=0.25)
    assert 10 < p.memory.weights_gb < 20  # 8B parameters in BF16
    assert p.memory.kv_capacity_tokens > 100_000
    assert p.memory.max_concurrency == min(p.memory.kv_capacity_tokens // 576, p.memory.max_running_requests)
    assert p.cost_model


def test_more_load_means_more_throughput_and_slower_tokens():
    light = predict("vllm", "h100", "meta-llama/Llama-3.1-8B", {}, "D(512,64)", concurrency=2)
    heavy = predict("vllm", "h100", "meta-llama/Llama-3.1-8B", {}, "D(512,64)", concurrency=32)
    assert heavy.metrics["output_throughput"] > 3 * light.metrics["output_throughput"]
    assert heavy.metrics["tpot_mean"] > light.metrics["tpot_mean"]


def test_rate_level_and_bad_arguments():
    p = predict("sglang", "h200_sxm", "Qwen/Qwen3-8B", None, "D(256,32)", rate=2.0, num_requests=20)
    assert p.rate == 2.0 and p.concurrency is None and p.gpu == "h200"
    assert p.metrics["num_requests"] == 20
    with pytest.raises(ValueError, match="engine 'trt' is not one of"):
        predict("trt", "h100", "meta-llama/Llama-3.1-8B")
    with pytest.raises(ValueError, match="concurrency or rate"):
        predict("sglang", "h100", "meta-llama/Llama-3.1-8B", concurrency=2, rate=1.0)
    with pytest.raises(ValueError, match="gpu 'x1' is not one of"):
        predict("sglang", "x1", "meta-llama/Llama-3.1-8B")


def test_a_model_too_big_for_the_gpu_fails_like_the_engine():
    with pytest.raises(SimStartupError, match="out of memory"):
        predict("sglang", "h100", "meta-llama/Llama-3.1-70B", {"tp-size": 1}, "D(128,16)", concurrency=1)


def test_blackwell_gpus_have_published_specs():
    b200, b300, gb200 = get_gpu("b200_sxm"), get_gpu("b300_sxm"), get_gpu("gb200")
    assert 175 < b200.memory_gib < 184 and 260 < b300.memory_gib < 280 and 180 < gb200.memory_gib < 190
    assert b200.hbm_gbps == 8000 and b200.peak_flops(fp8=True) == 2 * b200.peak_flops(fp8=False)
    assert b300.peak_flops(fp8=True, fp4=True) > b200.peak_flops(fp8=True, fp4=True)


def test_predict_command_prints_json_and_refuses_bad_flags():
    import json

    from typer.testing import CliRunner

    from autotuner.cli.main import app

    runner = CliRunner()
    ok = runner.invoke(app, ["predict", "vllm", "h100", "meta-llama/Llama-3.1-8B", "-s", "D(256,32)", "-c", "4",
                             "--json", "--", "--max-num-seqs", "2"])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.output)
    assert doc["memory"]["max_concurrency"] <= 2 and doc["metrics"]["ttft_mean"] > 0
    assert doc["argv"][-2:] == ["--max-num-seqs", "2"]
    bad = runner.invoke(app, ["predict", "sglang", "h100", "meta-llama/Llama-3.1-8B", "--", "--tp-size", "x"])
    assert bad.exit_code == 2 and "--tp-size" in bad.output
