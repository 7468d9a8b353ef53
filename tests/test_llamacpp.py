"""llama.cpp adapter: argument lists, binary discovery, known constraints (no binary needed)."""

import stat

import pytest

from autotuner.engines.llamacpp import (LlamaCpp, find_server, llamacpp_constraint, per_request_context,
                                        request_token_bound, slot_layout, task_constraint)
from autotuner.spec import task_from_dict
from autotuner.spec.scenarios import parse_scenario
from .llamacpp_fixtures import write_gguf


@pytest.fixture
def model(tmp_path):
    return write_gguf(tmp_path / "tiny.gguf", context_length=2048)


def test_launch_spec_argv(model, monkeypatch, tmp_path):
    server = tmp_path / "llama-server"
    server.write_text("#!/bin/sh\n")
    server.chmod(server.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("AUTOTUNER_LLAMA_SERVER", str(server))
    a = LlamaCpp()
    spec = a.launch_spec(str(model), "tiny", {"parallel": 8, "ubatch-size": 128, "flash-attn": "on",
                                             "cont-batching": False, "defrag-thold": 0.1, "ctx-size": None})
    assert spec.argv == [str(server), "--model", str(model.resolve()), "--alias", "tiny", "--parallel", "8",
                         "--ubatch-size", "128", "--flash-attn", "on", "--no-cont-batching", "--defrag-thold", "0.1"]
    assert (spec.engine, spec.model_name, spec.health_path, spec.container_port, spec.num_gpus) == \
        ("llamacpp", "tiny", "/health", 8080, 1)


def test_booleans_negations_and_on_off_values():
    a = LlamaCpp()
    assert a.flag_args({"cont-batching": True, "kv-unified": False, "no-host": False}) == \
        ["--cont-batching", "--no-kv-unified"]  # no-host has no negation: False drops it
    assert a.flag_args({"no-cont-batching": True}) == ["--no-cont-batching"]
    # YAML 1.1 reads on/off as booleans; flash-attn takes a value
    assert a.flag_args({"flash-attn": True}) == ["--flash-attn", "on"]
    assert a.flag_args({"flash-attn": False}) == ["--flash-attn", "off"]
    with pytest.raises(ValueError, match="--threads takes a value"):
        a.flag_args({"threads": True})


def test_short_names_and_kv_cache_dtype_are_translated():
    a = LlamaCpp()
    assert a.flag_args({"np": 4, "-ub": 64, "c": 4096, "fa": "auto"}) == \
        ["--parallel", "4", "--ubatch-size", "64", "--ctx-size", "4096", "--flash-attn", "auto"]
    assert a.flag_args({"kv_cache_dtype": "q8_0"}) == ["--cache-type-k", "q8_0", "--cache-type-v", "q8_0"]
    assert a.gpu_count({"parallel": 16}) == 1 and a.parallel_degree({"parallel": 16}, "dp") == 1


def test_missing_binary_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOTUNER_LLAMA_SERVER", str(tmp_path / "absent"))
    assert find_server() is None
    ok, why = LlamaCpp().runnable()
    assert not ok and "install_llamacpp.sh" in why
    assert LlamaCpp().executable() == ["llama-server"]


def test_quantized_v_cache_needs_flash_attention():
    assert "needs flash attention" in llamacpp_constraint({"cache-type-v": "q8_0", "flash-attn": "off"})
    assert llamacpp_constraint({"cache-type-v": "q8_0", "flash-attn": "auto"}) is None
    assert llamacpp_constraint({"cache-type-k": "q4_0", "flash-attn": "off"}) is None  # K alone is fine


def test_slot_layout_and_context_share():
    assert slot_layout({}) == (4, True)  # auto slots share one unified cache
    assert slot_layout({"parallel": 8}) == (8, False)
    assert slot_layout({"parallel": 8, "kv-unified": True}) == (8, True)
    assert per_request_context(2048, 8, unified=False) == 256
    assert per_request_context(512, 8, unified=False) == 256  # each slot is rounded up to 256
    assert per_request_context(1000, 3, unified=False) == 512  # 1024 / 3 = 341 -> 512
    assert per_request_context(512, 8, unified=True) == 64


def test_context_constraint_uses_request_size_and_model_context():
    cfg = {"parallel": 8, "ctx-size": 2048}
    assert llamacpp_constraint(cfg, max_request_tokens=256) is None
    reason = llamacpp_constraint(cfg, max_request_tokens=300)
    assert "8 slots" in reason and "about 256 per request" in reason and ">= 2400" in reason
    assert llamacpp_constraint({"parallel": 16}, 389, model_context=8192) is None
    assert "unified" in llamacpp_constraint({"parallel": 32, "kv-unified": True}, 389, model_context=8192)
    assert llamacpp_constraint({"parallel": 32}, 389, model_context=None) is None  # unknown: the engine decides


def test_request_token_bound():
    assert request_token_bound([parse_scenario("D(100,50)")], tokens_per_word=1.0, template_tokens=0) == 150
    assert request_token_bound([parse_scenario("N(70,10)/(96,16)"), parse_scenario("D(10,10)")]) == \
        165 + 64 + 160


def test_task_constraint_reads_fixed_args_workload_and_model(model):
    task = task_from_dict({"name": "t", "model": str(model), "engine": "llamacpp",
                           "search": {"space": {"parallel": [1, 8]}}, "objective": {"maximize": "output_throughput"},
                           "workload": {"scenarios": ["D(100,100)"]}, "fixed_args": {"ctx-size": 0}})
    assert task_constraint(task, {"parallel": 4}) is None  # 2048 model context / 4 = 512 >= 314
    assert "raise ctx-size" in task_constraint(task, {"np": 8})


def test_constraint_accepts_any_spelling():
    assert "needs flash attention" in llamacpp_constraint({"ctv": "q4_0", "fa": False})
    assert "16 slots" in llamacpp_constraint({"np": 16, "c": 2048}, max_request_tokens=300)
    assert llamacpp_constraint({"cache-type-v": None, "flash-attn": "off"}) is None
