"""benchmarks/aic_fidelity.py: the row -> aiconfigurator request mapping, the table arithmetic, the real path.

The real path needs aiconfigurator in ``.venv-aic`` (``bash scripts/install_aic.sh``) and skips without it.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import aic_fidelity as af  # noqa: E402

from autotuner.sim.silicon import SiliconRow, held_out  # noqa: E402


def make_row(**kw) -> SiliconRow:
    base = dict(id="r", engine="sglang", version="0.5.9", model="deepseek-ai/DeepSeek-R1", gpu="b200_sxm",
                precision="fp4", gemm_quant="nvfp4", moe_quant="nvfp4", isl=1024, osl=1024, users=32, tp=8,
                attention_dp=1, moe_tp=1, moe_ep=8, ttft_s=0.2, tpot_s=0.01, config_key="k")
    base.update(kw)
    return SiliconRow(**base)


def test_request_carries_the_rows_configuration():
    req = af.aic_request(make_row(attention_dp=8, tp=1, users=256, isl=8192, osl=1024))
    assert req == {"id": "r", "model_path": "deepseek-ai/DeepSeek-R1", "system": "b200_sxm", "backend": "sglang",
                   "backend_version": None, "isl": 8192, "osl": 1024, "batch_size": 256, "tp_size": 1,
                   "attention_dp_size": 8, "moe_tp_size": 1, "moe_ep_size": 8, "gemm_quant_mode": "nvfp4",
                   "moe_quant_mode": "nvfp4"}


def test_unbundled_ids_map_to_aiconfigurators_bundled_configs_and_empty_formats_are_inferred():
    req = af.aic_request(make_row(model="meta-llama/Llama-3.1-70B", gemm_quant="", moe_quant="", engine="vllm"))
    assert req["model_path"] == "meta-llama/Meta-Llama-3.1-70B"
    assert req["gemm_quant_mode"] is None and req["moe_quant_mode"] is None
    assert af.aic_request(make_row(model="zhipuai/GLM-5"))["model_path"] == "zai-org/GLM-5"
    assert af.aic_request(make_row(model="Qwen/Qwen3-32B"))["model_path"] == "Qwen/Qwen3-32B"


def test_gpt_oss_fp4_on_hopper_runs_its_mxfp4_experts_weight_only():
    row = make_row(model="openai/gpt-oss-120b", gpu="h100_sxm", engine="vllm", gemm_quant="nvfp4", moe_quant="nvfp4")
    assert af.quant_modes(row) == (None, "w4a16_mxfp4")
    assert af.quant_modes(make_row(model="openai/gpt-oss-120b", gpu="b200_sxm")) == ("nvfp4", "nvfp4")
    assert af.quant_modes(make_row(model="deepseek-ai/DeepSeek-R1", gpu="h200_sxm")) == ("nvfp4", "nvfp4")


def test_errors_are_relative_and_throughput_follows_from_the_latencies():
    row = make_row(users=10, osl=101, ttft_s=0.5, tpot_s=0.01)  # truth: 10*101/(0.5+1.0) tokens/s
    err = af.errors_of(row, ttft_s=0.6, tpot_s=0.02)  # estimate: 10*101/(0.6+2.0)
    assert err["ttft"] == pytest.approx(0.2)
    assert err["tpot"] == pytest.approx(1.0)
    assert err["throughput"] == pytest.approx(abs(1.5 / 2.6 - 1))


def test_an_aic_error_or_empty_latency_is_not_covered_with_its_reason():
    row = make_row()
    assert af.aic_errors(row, {"id": "r", "error": "PerfDataNotAvailableError: no moe data"}) == (
        None, "PerfDataNotAvailableError: no moe data")
    err, why = af.aic_errors(row, {"id": "r", "ttft_ms": 0.0, "tpot_ms": 0.0})
    assert err is None and "no latency" in why
    err, why = af.aic_errors(row, {"id": "r", "ttft_ms": 300.0, "tpot_ms": 10.0})
    assert why is None and err["ttft"] == pytest.approx(0.5) and err["tpot"] == pytest.approx(0.0)


def _row_on_side(want_held: bool, i: int) -> SiliconRow:
    for k in range(10_000):
        row = make_row(id=f"{i}-{k}", config_key=f"cfg-{i}-{k}")
        if held_out(row) == want_held:
            return row
    raise AssertionError("no configuration on that side of the split")


def test_summary_compares_both_on_rows_both_cover_per_group_and_split():
    held = [_row_on_side(True, i) for i in range(3)]
    fit = [_row_on_side(False, i) for i in range(2)]
    other = make_row(id="h100", gpu="h100_sxm", engine="vllm", model="Qwen/Qwen3-32B")
    rows = held + fit + [other]
    e = lambda x: {"ttft": x, "tpot": x / 2, "throughput": x / 4}  # noqa: E731
    aic = [e(0.1), e(0.3), None, e(0.5), e(0.7), e(0.9)]
    ours = [e(0.2), e(0.4), e(0.6), None, e(0.8), {}]  # {} = coverage only: not compared
    s = af.summarise(rows, aic, ours)
    b200 = s[("b200", "sglang", "DeepSeek-V3/R1")]
    assert (b200["rows"], b200["aic"], b200["ours"], b200["both"]) == (5, 4, 4, 3)
    assert b200["held_out"]["rows"] == 2 and b200["all"]["rows"] == 3
    assert b200["held_out"]["aic"]["ttft"]["median"] == pytest.approx(0.2)
    assert b200["held_out"]["ours"]["ttft"]["median"] == pytest.approx(0.3)
    assert b200["all"]["aic"]["tpot"]["median"] == pytest.approx(0.15)  # tpot of 0.1, 0.3, 0.7 halved
    assert b200["all"]["ours"]["throughput"]["p90"] == pytest.approx((0.4 + 0.8 * (0.8 - 0.4)) / 4)
    h100 = s[("h100", "vllm", "Qwen3-32B")]
    assert h100["both"] == 0 and math.isnan(h100["all"]["aic"]["ttft"]["median"])
    overall = s[("overall",)]
    assert (overall["rows"], overall["aic"], overall["both"]) == (6, 5, 3)
    text = "\n".join(af.table(s, "all"))
    assert "overall" in text.splitlines()[-1] and "b200   sglang DeepSeek-V3/R1" in text


def test_ask_aic_keeps_request_order_and_names_a_dead_worker(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'Traceback: ImportError: no aiconfigurator' >&2\nexit 3\n")
    fake.chmod(0o755)
    answers = af.ask_aic(fake, [{"id": "a", "system": "x", "backend": "vllm", "model_path": "m"},
                                {"id": "b", "system": "a", "backend": "vllm", "model_path": "m"}])
    assert [a["id"] for a in answers] == ["a", "b"]
    assert all("worker stopped (3)" in a["error"] and "ImportError" in a["error"] for a in answers)


@pytest.mark.slow
@pytest.mark.skipif(not af.DEFAULT_AIC_PYTHON.is_file(), reason="no .venv-aic (bash scripts/install_aic.sh)")
def test_the_worker_estimates_a_bundled_model_and_reports_an_unknown_one():
    requests = [af.aic_request(make_row(id="qwen", model="Qwen/Qwen3-32B", engine="vllm", gpu="h200_sxm", tp=4,
                                        moe_ep=1, gemm_quant="", moe_quant="", users=8)),
                af.aic_request(make_row(id="none", model="example-org/not-a-model", engine="vllm"))]
    done = subprocess.run([str(af.DEFAULT_AIC_PYTHON), str(af.WORKER)], input=json.dumps(requests),
                          capture_output=True, text=True, timeout=600)
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["id"] for a in answers] == ["qwen", "none"]
    assert 10 < answers[0]["ttft_ms"] < 5000 and 1 < answers[0]["tpot_ms"] < 100
    assert "error" in answers[1]


def test_kept_answers_are_reused_and_only_the_missing_rows_are_asked(tmp_path):
    kept = tmp_path / "answers.json"
    kept.write_text(json.dumps([{"id": "a", "ttft_ms": 100.0, "tpot_ms": 5.0}]))
    dead = tmp_path / "python"
    dead.write_text("#!/bin/sh\nexit 1\n")
    dead.chmod(0o755)
    answers = af.cached_answers(kept, dead, [make_row(id="a"), make_row(id="b")], jobs=1)
    assert answers[0] == {"id": "a", "ttft_ms": 100.0, "tpot_ms": 5.0}
    assert answers[1]["id"] == "b" and "worker stopped" in answers[1]["error"]
    assert {a["id"] for a in json.loads(kept.read_text())} == {"a"}  # a dead worker's placeholder is not kept
