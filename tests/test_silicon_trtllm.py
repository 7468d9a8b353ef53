"""TensorRT-LLM's measured runs on the trtllm twin: row flags, checkpoint names, its own calibration."""

from __future__ import annotations

import re

import pytest

from autotuner.sim import calibration, calibration_trtllm
from autotuner.sim.costmodel import RooflineCostModel
from autotuner.sim.engine import SimEngine
from autotuner.sim.predict import engine_argv
from autotuner.sim.silicon import SiliconRow, held_out, read_rows
from autotuner.sim.silicon_trtllm import predict_trtllm_row, trtllm_row_flags

from .silicon_files import shared_silicon

SHARED = shared_silicon("silicon_trtllm_agg.csv")


def _row(**changes) -> SiliconRow:
    base = dict(id="x", engine="trtllm", version="1.2.0rc6", model="nvidia/DeepSeek-R1-NVFP4", gpu="b200_sxm",
                precision="fp4", gemm_quant="nvfp4", moe_quant="nvfp4", isl=1024, osl=128, users=4, tp=8,
                attention_dp=1, moe_tp=1, moe_ep=8, ttft_s=0.2, tpot_s=0.01, config_key="k")
    return SiliconRow(**{**base, **changes})


def test_nvfp4_checkpoints_start_with_their_base_models_shape():
    for model, base in (("nvidia/DeepSeek-R1-NVFP4", "DeepSeek-R1"), ("nvidia/DeepSeek-V3.1-NVFP4", "DeepSeek-V3"),
                        ("nvidia/Qwen3-32B-NVFP4", "Qwen3-32B")):
        row = _row(model=model)
        engine = SimEngine.from_argv(engine_argv("trtllm", row.gpu, row.model, trtllm_row_flags(row)))
        assert engine.config.quantization == "modelopt_fp4", model
        assert engine.model.layers == {"DeepSeek-R1": 61, "DeepSeek-V3": 61, "Qwen3-32B": 64}[base]


def test_the_trtllm_twin_uses_the_calibration_fitted_on_trtllm_rows():
    cal = calibration.fitted("trtllm")
    assert cal == calibration.DEFAULT.with_values(**calibration_trtllm.FITTED)
    assert cal != calibration.fitted("sglang") and cal != calibration.DEFAULT
    assert re.search(r"fit_twin_trtllm\.py on silicon_trtllm_agg\.csv .*fit rows only \(\d+\)",
                     "".join(calibration_trtllm.FITTED_PROVENANCE))
    row = _row()  # expert parallelism: the roofline model prices it, with trtllm's calibration
    engine = SimEngine.from_argv(engine_argv("trtllm", row.gpu, row.model, trtllm_row_flags(row)))
    assert isinstance(engine.cost, RooflineCostModel) and engine.cost.calibration == cal
    assert engine.frontend == cal


def test_before_a_fit_the_defaults_answer(monkeypatch):
    monkeypatch.setattr(calibration_trtllm, "FITTED", None)
    assert calibration.fitted("trtllm") is calibration.DEFAULT


@pytest.mark.skipif(SHARED is None, reason="../shared/silicon/silicon_trtllm_agg.csv is absent")
def test_a_held_out_configuration_is_predicted_within_a_factor_of_two():
    rows = [r for r in read_rows(SHARED) if held_out(r) and r.family == "Llama-3.1-8B" and r.users <= 8
            and r.osl <= 128]
    assert rows, "the file holds held-out Llama-3.1-8B rows at low concurrency"
    row = min(rows, key=lambda r: (r.users * r.osl, r.id))
    p = predict_trtllm_row(row)
    assert 0.5 < p.metrics["ttft_mean"] / row.ttft_s < 2.0
    assert 0.5 < p.metrics["tpot_mean"] / row.tpot_s < 2.0
