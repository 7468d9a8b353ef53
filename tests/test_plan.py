"""`autotuner plan`: replicas math, SLO filter, ranking order, price overrides, the CLI's output."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from autotuner.cli.main import app
from autotuner.planning import (Candidate, Evaluation, PlanInputError, PlanRequest, Traffic, evaluate,
                                fewest_replicas, generate, load_prices, make_plan, price_plans, rank)
from autotuner.planning.evaluate import slo_misses

SMALL = "meta-llama/Llama-3.2-1B"


@pytest.mark.parametrize("rate,capacity", [(20, 7.0), (20, 25.0), (100, 3.3), (9, 3.0), (1, 0.01)])
@pytest.mark.parametrize("guess", [1, 2, 7, 40])
def test_fewest_replicas_is_the_ceiling_of_load_over_capacity(rate, capacity, guess):
    calls = []

    def meets(n):
        calls.append(n)
        return rate / n <= capacity

    expected = math.ceil(rate / capacity)
    got = fewest_replicas(meets, guess, limit=200)
    assert got == (expected if expected <= 200 else None)
    assert len(calls) == len(set(calls))  # each count predicted once
    if got is not None and got > 1:
        assert not meets(got - 1)


def test_fewest_replicas_gives_up_at_the_limit():
    assert fewest_replicas(lambda n: n >= 50, 1, limit=10) is None
    assert fewest_replicas(lambda n: False, 3, limit=3) is None


def test_traffic_share_splits_rate_and_users():
    assert Traffic("D(8,8)", rate=20).share(3) == (None, pytest.approx(20 / 3))
    assert Traffic("D(8,8)", concurrency=10).share(3) == (4, None)


def test_slo_misses_respects_direction_and_nan():
    assert slo_misses({"ttft_p90": 0.5, "goodput": 3.0}, {"ttft_p90": 1.0, "goodput": 2.0}) == []
    assert slo_misses({"ttft_p90": 1.5, "goodput": 1.0}, {"ttft_p90": 1.0, "goodput": 2.0}) == ["ttft_p90", "goodput"]
    assert slo_misses({"ttft_p90": float("nan")}, {"ttft_p90": 1.0}) == ["ttft_p90"]


def test_evaluate_finds_the_fewest_replicas_that_meet_the_slo_in_the_twin():
    """The twin's own verdicts: the plan's replica count meets the SLO and one fewer misses."""
    cand = Candidate("h100", "sglang", 1, knobs=(("max-running-requests", 64),))
    traffic, slo = Traffic("D(512,128)", rate=40.0), {"tpot_p90": 0.009}
    ev = evaluate(cand, "meta-llama/Llama-3.1-8B", traffic, slo, num_requests=40, max_requests=120)
    assert ev.feasible and ev.replicas >= 2, ev.reason
    assert not slo_misses(ev.metrics, slo)
    fewer = evaluate(cand, "meta-llama/Llama-3.1-8B", Traffic("D(512,128)", rate=40.0 / (ev.replicas - 1)), slo,
                     num_requests=40, max_requests=120, max_replicas=1)
    assert not fewer.feasible and "tpot_p90" in fewer.reason


def test_a_model_that_does_not_fit_is_not_feasible_with_the_engines_reason():
    ev = evaluate(Candidate("h100", "vllm", 1), "meta-llama/Llama-3.1-70B", Traffic("D(128,16)", rate=1.0), {},
                  num_requests=20)
    assert not ev.feasible and "memory" in ev.reason.lower()


def _ev(gpu, tp, replicas, out_tps, req_tps):
    return Evaluation(Candidate(gpu, "sglang", tp), replicas=replicas,
                      metrics={"output_throughput": out_tps, "request_throughput": req_tps, "ttft_p90": 0.1})


def test_ranking_by_cost_and_by_throughput_and_the_pareto_front():
    prices = {"h100": 2.0, "h200": 3.0}
    traffic = Traffic("D(100,100)", rate=10.0)  # 100 output tokens per request: 1000 tok/s served
    evs = [_ev("h100", 1, 4, 300.0, 3.0),   # 4 GPUs x $2 = $8/h
           _ev("h200", 2, 1, 1000.0, 10.0),  # 2 GPUs x $3 = $6/h: cheaper and more per GPU
           _ev("h100", 4, 1, 1000.0, 10.0),  # 4 GPUs x $2 = $8/h, 250 tok/s/GPU
           _ev("h100", 1, 3, 340.0, 3.4),    # 3 GPUs x $2 = $6/h, 333 tok/s/GPU
           Evaluation(Candidate("h200", "vllm", 1), reason="out of memory")]
    plans = price_plans(evs, traffic, prices)
    assert len(plans) == 4  # the infeasible one is not priced
    by_cost = rank(plans, "cost")
    assert [p.evaluation.candidate.gpu for p in by_cost][:2] == ["h200", "h100"]
    assert by_cost[0].cost_per_mtok == pytest.approx(6.0 / (1000 * 3600) * 1e6)
    assert by_cost[0].throughput_per_gpu == pytest.approx(500.0)
    assert [p.evaluation.total_gpus for p in rank(plans, "throughput")] == [2, 3, 4, 4]
    costs = [p.cost_per_mtok for p in by_cost]
    assert costs == sorted(costs)
    assert [p.pareto for p in by_cost] == [True, False, False, False]  # h200 dominates every other
    with pytest.raises(ValueError, match="cost, throughput"):
        rank(plans, "latency")


def test_price_override_replaces_only_the_named_gpus(tmp_path):
    shipped = load_prices()
    assert {"h100", "h200", "a100"} <= shipped.keys() and all(v > 0 for v in shipped.values())
    f = tmp_path / "prices.yaml"
    f.write_text("h100: 1.5\n")
    prices = load_prices(f)
    assert prices["h100"] == 1.5 and prices["h200"] == shipped["h200"]
    ev = [_ev("h100", 1, 2, 500.0, 5.0)]
    cheap, dear = price_plans(ev, Traffic("D(1,100)", rate=5.0), prices), price_plans(ev, Traffic("D(1,100)", rate=5.0), shipped)
    assert cheap[0].cost_per_mtok == pytest.approx(dear[0].cost_per_mtok * 1.5 / shipped["h100"])
    f.write_text("h100: -2\n")
    with pytest.raises(ValueError, match="h100: must be a positive number"):
        load_prices(f)


def _request(**kw):
    base = dict(model=SMALL, traffic=Traffic("D(256,64)", rate=8.0), slo={"ttft_p90": 0.5}, gpus=["h100"],
                engines=["sglang"], num_requests=30)
    return PlanRequest(**{**base, **kw})


@pytest.mark.parametrize("change,message", [
    ({"gpus": ["h1000"]}, "--gpus: gpu 'h1000' is not one of: h100"),
    ({"engines": ["tgi"]}, "--engines: tgi; allowed: sglang, vllm"),
    ({"model": "no/such-model"}, "--model: unknown model"),
    ({"slo": {"ttft_p91": 1.0}}, "--slo: unknown metric 'ttft_p91'"),
    ({"traffic": Traffic("D(256,64)")}, "exactly one of --rate"),
    ({"traffic": Traffic("X(1)", rate=1.0)}, "--scenario"),
])
def test_bad_input_names_the_option(change, message):
    with pytest.raises(PlanInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_plan(_request(**change), candidates=[])


def test_a_gpu_without_a_price_is_refused(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("h100: 2.0\n")
    from autotuner.planning import prices as prices_module
    shipped = prices_module.DEFAULT_PRICES
    try:
        prices_module.DEFAULT_PRICES = f
        with pytest.raises(PlanInputError, match="--prices: no \\$/GPU-hour for h200"):
            make_plan(_request(gpus=["h100", "h200"]), candidates=[])
    finally:
        prices_module.DEFAULT_PRICES = shipped


def test_generated_candidates_cover_gpus_layouts_and_flags():
    cands = generate(["h100", "h200"], ["sglang", "vllm"])
    assert len(cands) == len(set(cands)) >= 100
    assert {c.gpus for c in cands} == {1, 2, 4, 8}
    vllm = next(c for c in cands if c.engine == "vllm" and c.pp == 2)
    assert "pipeline-parallel-size" in vllm.flags and "max-num-seqs" in vllm.flags


def test_plan_slo_filter_keeps_only_configurations_meeting_it():
    cands = [Candidate("h100", "sglang", tp, knobs=(("max-running-requests", mr),)) for tp in (1, 2) for mr in (8, 64)]
    loose = make_plan(_request(slo={"ttft_p90": 5.0}), candidates=cands)
    tight = make_plan(_request(slo={"tpot_p90": 0.0012}), candidates=cands)
    assert len(loose.plans) == 4
    assert len(tight.plans) == 2 and all("tpot_p90" in e.reason for e in tight.evaluations if not e.feasible)
    for p in tight.plans:
        assert p.evaluation.metrics["tpot_p90"] <= 0.0012 and p.evaluation.candidate.tp == 2


def test_cli_json_and_an_80_column_table():
    runner = CliRunner()
    args = ["plan", "--model", SMALL, "--rate", "6", "--scenario", "D(256,64)", "--slo", "ttft_p90=1",
            "--gpus", "h100", "--engines", "vllm", "--requests", "30", "--workers", "1"]
    out = runner.invoke(app, args + ["--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["evaluated"] == 30 and doc["feasible"] == len(doc["ranked"]) > 0
    costs = [r["cost_per_million_output_tokens"] for r in doc["ranked"]]
    assert costs == sorted(costs) and any(r["pareto"] for r in doc["ranked"])
    text = runner.invoke(app, args)
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in text.output
    header = next(line for line in lines if "$/Mtok" in line)
    assert header.split()[-2:] == ["ttft90", "P"]  # no column dropped for want of room
    assert any(line.rstrip().endswith("*") for line in lines)
    assert any("best:" in line for line in lines)
    bad = runner.invoke(app, args[:-2] + ["--gpus", "h900"])
    assert bad.exit_code == 2 and "--gpus" in bad.output


def test_closed_loop_traffic_splits_users_across_replicas():
    """With --concurrency, each replica serves ceil(users / n) and throughput adds up over replicas."""
    cand = Candidate("h100", "vllm", 1, knobs=(("max-num-seqs", 8),))
    traffic, slo = Traffic("D(256,64)", concurrency=32), {"ttft_p90": 0.05}
    ev = evaluate(cand, "meta-llama/Llama-3.1-8B", traffic, slo, num_requests=32, max_requests=96)
    assert ev.feasible and ev.replicas >= 2, ev.reason
    plan = price_plans([ev], traffic, {"h100": 2.0})[0]
    assert plan.output_tokens_per_s == pytest.approx(ev.metrics["output_throughput"] * ev.replicas)
