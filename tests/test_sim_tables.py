"""Step-time tables from aiconfigurator: shipped data, interpolation, model selection, engine wiring."""

from __future__ import annotations

import json
import math

import pytest

from autotuner.sim import aic_live
from autotuner.sim.costmodel import RooflineCostModel, StepWork
from autotuner.sim.engine import SimEngine
from autotuner.sim.errors import SimStartupError
from autotuner.hardware.models import BUILTIN
from autotuner.sim.table_model import (
    TableCostModel, _Axis, _Grid, find_table, load_tables, select_cost_model, table_files,
)
from autotuner.sim.virtual import simulate_benchmark
from autotuner.spec.workload import Workload

QWEN8 = ("Qwen/Qwen3-8B", "h100", "sglang", 1)


@pytest.fixture(scope="module")
def qwen8_table() -> dict:
    table = find_table(*QWEN8)
    assert table is not None
    return table


# -- shipped tables --------------------------------------------------------------------------------------
def test_shipped_tables_have_provenance_and_cover_the_main_set():
    files = table_files()
    assert {f.name for f in files} >= {"h100_sxm-sglang.json", "h100_sxm-vllm.json", "h200_sxm-sglang.json",
                                       "a100_sxm-vllm.json", "l40s-sglang.json"}
    assert sum(f.stat().st_size for f in files) < 4 * 1024 * 1024
    tables = load_tables()
    keys = {(t["key"]["model"], t["key"]["gpu"], t["key"]["engine"], t["key"]["tp"]) for t in tables}
    for model in ("meta-llama/Llama-3.1-8B", "Qwen/Qwen3-8B", "Qwen/Qwen3-32B", "Qwen/Qwen3-30B-A3B"):
        for engine in ("sglang", "vllm"):
            assert any(k[0] == model and k[2] == engine for k in keys), (model, engine)
    assert ("meta-llama/Llama-3.1-70B", "h100", "sglang", 4) in keys
    for t in tables:
        prov = t["provenance"]
        assert prov["source"] == "aiconfigurator" and prov["versions"].get("aiconfigurator")
        assert prov["generated"] and t["key"]["engine"] in prov["engine_versions"]
        assert t["key"]["model"] in {m.name for m in BUILTIN.values()}
        assert t["memory"]["weight_bytes"] > 0 and t["memory"]["kv_bytes_per_token"] > 0


def test_memory_figures_follow_tp_and_kv_dtype():
    one, two = find_table(*QWEN8), find_table("Qwen/Qwen3-8B", "h100", "sglang", 2)
    fp8 = find_table("Qwen/Qwen3-8B", "h100", "sglang", 1, "fp8_e4m3")
    assert two["memory"]["kv_bytes_per_token"] * 2 == one["memory"]["kv_bytes_per_token"]
    assert fp8["memory"]["kv_bytes_per_token"] * 2 == one["memory"]["kv_bytes_per_token"]
    assert two["memory"]["weight_bytes"] < one["memory"]["weight_bytes"]
    # 36 layers x 8 KV heads x 128 x (K, V) x 2 bytes
    assert one["memory"]["kv_bytes_per_token"] == 36 * 8 * 128 * 2 * 2


# -- interpolation --------------------------------------------------------------------------------------
def test_grid_is_exact_on_points_and_monotone_between():
    xs, ys = [1, 4, 16, 64], [2.0, 3.0, 7.0, 30.0]
    grid = _Grid([_Axis(xs, 1)], ys)
    for x, y in zip(xs, ys):
        assert grid(x) == pytest.approx(y, rel=1e-12)
    values = [grid(1 + i * 63 / 500) for i in range(501)]
    assert all(b >= a for a, b in zip(values, values[1:]))
    assert grid(0.5) == pytest.approx(2.0)  # clamped below
    assert grid(128) == pytest.approx(60.0)  # proportional above


def test_grid_is_exact_for_power_laws_and_extrapolates_quadratically():
    xs = [16, 64, 256, 1024]
    grid = _Grid([_Axis(xs, 2)], [x * x for x in xs])
    for x in (20, 100, 300, 777):
        assert grid(x) == pytest.approx(x * x, rel=1e-9)
    assert grid(2048) == pytest.approx(2048 ** 2, rel=1e-9)


def test_two_dimensional_grid_blends_corners():
    grid = _Grid([_Axis([1, 2], 1), _Axis([10, 20], 1, below_power=1)], [[1.0, 2.0], [4.0, 8.0]])
    assert grid(2, 20) == pytest.approx(8.0)
    assert 1.0 < grid(1.5, 15) < 8.0
    assert grid(1, 5) == pytest.approx(0.5)  # shrinks in proportion below the first point


def test_table_model_is_exact_at_grid_points(qwen8_table):
    cost = TableCostModel(qwen8_table)
    t = qwen8_table
    da, pa, xa = t["decode_attn"], t["prefill_attn"], t["prefix_attn"]
    for i, b in enumerate(da["batch"]):
        for j, c in enumerate(da["context"]):
            expect = t["decode_linear_ms"][t["tokens"].index(b)] + da["ms"][i][j]
            got = cost.step_time(StepWork((), b, b * c, graph=True)) * 1000
            assert got == pytest.approx(expect, rel=1e-9)
    for j, n in enumerate(pa["seq"]):
        if n not in t["tokens"]:
            continue
        expect = t["prefill_linear_ms"][t["tokens"].index(n)] + pa["ms"][0][j]
        assert cost.step_time(StepWork(((n, 0),))) * 1000 == pytest.approx(expect, rel=1e-9)
        for k, cached in enumerate(xa["cached"]):
            assert cost.prefill_attention_ms([(n, cached)]) == pytest.approx(pa["ms"][0][j] + xa["ms"][j][k],
                                                                              rel=1e-9)


def _monotone_between(f, points):
    """Between neighbouring grid points ``f`` runs monotonically from one grid value to the other."""
    for lo, hi in zip(points, points[1:]):
        xs = [lo + (hi - lo) * i / 40 for i in range(41)]  # fractional tokens are fine for the check
        ys = [f(x) for x in xs]
        rising = ys[-1] >= ys[0]
        assert all((b >= a) if rising else (b <= a) for a, b in zip(ys, ys[1:])), (lo, hi)


def test_table_model_is_monotone_between_grid_points(qwen8_table):
    cost = TableCostModel(qwen8_table)
    da, tokens = qwen8_table["decode_attn"], qwen8_table["tokens"]
    # a step sums tables on their own grids: between the points of all of them
    batches = sorted(set(da["batch"]) | {t for t in tokens if t <= da["batch"][-1]})
    _monotone_between(lambda b: cost.decode_step_ms(b, 3000), batches)
    _monotone_between(lambda c: cost.decode_step_ms(64, c), da["context"])
    seqs = sorted(set(qwen8_table["prefill_attn"]["seq"]) | set(tokens))
    _monotone_between(lambda n: cost.step_time(StepWork(((n, 0),))), seqs)
    # and the measured trend holds across the grid
    assert cost.decode_step_ms(512, 3000) > 3 * cost.decode_step_ms(1, 3000)
    assert cost.step_time(StepWork(((16384, 0),))) > 10 * cost.step_time(StepWork(((512, 0),)))


def test_step_composition_and_host_overheads(qwen8_table):
    cost = TableCostModel(qwen8_table)
    graph = cost.step_time(StepWork((), 16, 16 * 2048, graph=True))
    eager = cost.step_time(StepWork((), 16, 16 * 2048, graph=False))
    assert eager > graph * 1.1  # kernel launches of 36 layers
    compiled = TableCostModel(qwen8_table, compile_speedup=0.9)
    assert compiled.step_time(StepWork((), 16, 16 * 2048, graph=True)) == pytest.approx(0.9 * graph)
    mixed = cost.step_time(StepWork(((512, 0),), 16, 16 * 2048))
    assert mixed > cost.step_time(StepWork(((512, 0),))) and mixed > graph
    # a chunk on top of cached tokens costs more attention than the same chunk alone
    assert cost.step_time(StepWork(((2048, 30000),))) > cost.step_time(StepWork(((2048, 0),)))
    assert cost.step_time(StepWork()) == 0.0


def test_bad_table_names_the_missing_part(qwen8_table):
    broken = {k: v for k, v in qwen8_table.items() if k != "decode_attn"}
    with pytest.raises(ValueError, match="decode_attn"):
        TableCostModel(broken)


# -- selection -------------------------------------------------------------------------------------------
def test_select_picks_a_shipped_table_with_a_note():
    cost, note = select_cost_model("Qwen/Qwen3-8B", "h100", "sglang", 1, "auto", None, live=False)
    assert isinstance(cost, TableCostModel)
    assert note == "step times: aiconfigurator tables (h100_sxm, sglang 0.5.14, Qwen/Qwen3-8B, TP 1)"
    cost, note = select_cost_model("meta-llama/Llama-3.1-8B-Instruct", "h100_sxm", "vllm", 2, "fp8", "fp8",
                                   live=False)
    assert isinstance(cost, TableCostModel) and "Llama-3.1-8B, TP 2, KV fp8, FP8 weights)" in note


def test_select_matches_a_local_model_by_shape(tmp_path):
    spec = BUILTIN["qwen/qwen3-8b"]
    (tmp_path / "config.json").write_text(json.dumps(aic_live.hf_config(spec)))
    cost, note = select_cost_model(str(tmp_path), "l40s", "vllm", 1, live=False)
    assert isinstance(cost, TableCostModel) and "Qwen/Qwen3-8B" in note


@pytest.mark.parametrize("kwargs, reason", [
    (dict(model_id="Qwen/Qwen2.5-7B", tp=1), "no measured table for Qwen/Qwen2.5-7B on h100"),
    (dict(model_id="Qwen/Qwen3-8B", tp=1, pp=2), "PP 1"),
    (dict(model_id="Qwen/Qwen3-8B", tp=1, quantization="awq"), "not awq"),
    (dict(model_id="Qwen/Qwen3-8B", tp=1, dtype="float32"), "16-bit"),
])
def test_select_falls_back_to_the_roofline_with_the_reason(kwargs, reason):
    cost, note = select_cost_model(gpu="h100", engine="sglang", live=False, **kwargs)
    assert isinstance(cost, RooflineCostModel)
    assert note.startswith("step times: roofline model: ") and reason in note


@pytest.mark.slow
@pytest.mark.skipif(not aic_live.available(), reason="aiconfigurator is not installed (optional extra autotuner[aic])")
def test_live_aiconfigurator_prices_an_uncovered_model_and_caches_it(tmp_path, monkeypatch):
    monkeypatch.setenv(aic_live.CACHE_ENV, str(tmp_path))
    cost, note = select_cost_model("Qwen/Qwen2.5-7B", "h100", "sglang", 1, live=True)
    assert isinstance(cost, TableCostModel) and note.startswith("step times: aiconfigurator live (h100_sxm")
    assert list((tmp_path / "tables").glob("*.json"))
    again, _ = select_cost_model("Qwen/Qwen2.5-7B", "h100", "sglang", 1, live=True)
    assert again.decode_step_ms(8, 1000) == pytest.approx(cost.decode_step_ms(8, 1000))


def test_live_is_reported_unavailable_without_aiconfigurator(monkeypatch):
    monkeypatch.setattr(aic_live, "available", lambda: False)
    with pytest.raises(aic_live.AicUnavailable, match="not installed"):
        aic_live.build_table("Qwen/Qwen3-8B", "h100", "sglang")
    cost, note = select_cost_model("Qwen/Qwen2.5-7B", "h100", "sglang", 1)
    assert isinstance(cost, RooflineCostModel) and "roofline" in note


# -- wiring into the simulated engine -------------------------------------------------------------------
def test_table_memory_decides_kv_capacity_and_oom(qwen8_table):
    argv = ["--personality", "sglang", "--gpu", "h100", "--model-path", "Qwen/Qwen3-8B",
            "--mem-fraction-static", "0.8"]
    engine = SimEngine.from_argv(argv, cost_model=TableCostModel(qwen8_table))
    mem = qwen8_table["memory"]
    assert engine.memory.weight_bytes == mem["weight_bytes"]
    expect = int((engine.gpu.memory_bytes * 0.8 - mem["weight_bytes"]) // mem["kv_bytes_per_token"])
    assert engine.memory.kv_tokens == expect
    with pytest.raises(SimStartupError, match="Not enough memory"):
        SimEngine.from_argv(argv[:-1] + ["0.15"], cost_model=TableCostModel(qwen8_table))


@pytest.mark.parametrize("personality, model_flag", [("sglang", "--model-path"), ("vllm", "--model")])
def test_simulated_tpot_matches_the_table_decode_step(qwen8_table, personality, model_flag):
    cost, _ = select_cost_model("Qwen/Qwen3-8B", "h100", personality, 1, live=False)
    argv = ["--personality", personality, "--gpu", "h100", model_flag, "Qwen/Qwen3-8B"]
    engine = SimEngine.from_argv(argv, cost_model=cost)
    workload = Workload(scenarios=["D(512,128)"], concurrency=[8], num_requests=8)
    metrics = simulate_benchmark(argv, workload, engine=engine).levels[0].metrics
    expect = cost.decode_step_ms(8, 512 + 64) / 1000
    assert metrics["num_errors"] == 0
    assert math.isclose(metrics["tpot_mean"], expect, rel_tol=0.10), (metrics["tpot_mean"], expect)
