"""Engine adapters turn configurations into the engines' own argument lists."""

import sys

import pytest

from autotuner.engines import get_adapter


def test_sglang_argv_booleans_lists_and_parallel():
    a = get_adapter("sglang")
    cfg = {"tp": 2, "mem-fraction-static": 0.85, "disable-radix-cache": True, "enable-mixed-chunk": False,
           "cuda-graph-bs": [1, 2, 4], "schedule-policy": "lpm", "max-total-tokens": None}
    spec = a.launch_spec("meta-llama/Llama-3.1-8B-Instruct", "llama", cfg)
    assert spec.argv[:3] == [sys.executable, "-m", "sglang.launch_server"]
    assert spec.argv[3:] == ["--model-path", "meta-llama/Llama-3.1-8B-Instruct", "--served-model-name", "llama",
                             "--tp-size", "2", "--mem-fraction-static", "0.85", "--disable-radix-cache",
                             "--cuda-graph-bs", "1", "2", "4", "--schedule-policy", "lpm"]
    assert spec.num_gpus == 2 and spec.model_name == "llama" and spec.health_path == "/health"


def test_vllm_argv_and_gpu_count():
    a = get_adapter("vllm")
    cfg = {"tensor-parallel-size": 2, "dp": 2, "gpu-memory-utilization": 0.9, "enforce-eager": True}
    spec = a.launch_spec("Qwen/Qwen3-8B", "Qwen/Qwen3-8B", cfg)
    assert spec.argv == ["vllm", "serve", "Qwen/Qwen3-8B", "--tensor-parallel-size", "2",
                         "--data-parallel-size", "2", "--gpu-memory-utilization", "0.9", "--enforce-eager"]
    assert spec.num_gpus == 4


def test_simulate_swaps_the_executable_keeping_the_flags():
    a = get_adapter("sglang")
    spec = a.launch_spec("m", "m", {"tp-size": 1, "chunked-prefill-size": 4096},
                         simulate={"gpu": "a100", "seed": 3, "startup_seconds": 0.1})
    assert spec.argv[:3] == [sys.executable, "-m", "autotuner.sim"]
    assert spec.argv[3:11] == ["--personality", "sglang", "--gpu", "a100", "--seed", "3", "--startup-seconds", "0.1"]
    assert spec.argv[11:] == ["--model-path", "m", "--tp-size", "1", "--chunked-prefill-size", "4096"]


def test_floats_stay_floats_and_unknown_engine():
    a = get_adapter("vllm")
    assert a.flag_args({"gpu-memory-utilization": 1.0}) == ["--gpu-memory-utilization", "1.0"]
    with pytest.raises(ValueError, match="allowed: .*sglang"):
        get_adapter("tgi")


def test_false_turns_an_on_by_default_switch_off():
    a = get_adapter("vllm")
    assert a.flag_args({"enable-prefix-caching": False, "enforce-eager": False}) == ["--no-enable-prefix-caching"]
    assert get_adapter("sglang").flag_args({"enable-mixed-chunk": False}) == []
