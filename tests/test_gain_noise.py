"""Every reported gain carries its spread; "within noise" when it includes zero; marginal SLOs flagged."""

import random

import pytest

from autotuner.bench.metrics import RequestRecord, percentile
from autotuner.bench.request_sample import request_sample
from autotuner.report.gain import gain_summary
from autotuner.report.results import build_results
from autotuner.spec import task_from_dict
from autotuner.store import Store

from .api_fakes import task_doc


def level_with(seed: int, latency: float, jitter: float, n: int = 60, out_tokens: int = 64,
               concurrency: int = 8) -> dict:
    """A load level whose requests take ``latency`` x (1 +- jitter) seconds, with consistent metrics."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        e2e = latency * (1 + rng.uniform(-jitter, jitter))
        ttft = e2e * 0.2
        rows.append([ttft, (e2e - ttft) / (out_tokens - 1), e2e, 256, out_tokens])
    throughput = concurrency * sum(r[4] for r in rows) / sum(r[2] for r in rows)
    metrics = {"output_throughput": throughput, "ttft_p90": percentile([r[0] for r in rows], 90),
               "tpot_p90": percentile([r[1] for r in rows], 90), "success_rate": 1.0}
    return {"scenario": "D(256,64)", "concurrency": concurrency, "rate": None, "metrics": metrics,
            "errors": [], "requests": rows}


def results_for(tmp_path, best_level: dict, base_level: dict, **task_extra) -> dict:
    task = task_from_dict(task_doc("noise", **task_extra))
    store = Store(str(tmp_path / "db.sqlite"))
    row = store.create_task(task.name, task.model_dump(mode="json"), status="succeeded")
    for params, lv, baseline in (({}, base_level, True), ({"max-running-requests": 64}, best_level, False)):
        metrics = {**lv["metrics"], "selected_level": "D(256,64) c=8"}
        store.add_experiment(row.id, params, baseline=baseline, status="succeeded", metrics=metrics,
                             levels=[lv], score=metrics["output_throughput"], scores=[metrics["output_throughput"]])
    doc = build_results(store, row.id)
    doc["_task"] = task
    store.dispose()
    return doc


def test_a_clear_gain_has_an_interval_above_zero(tmp_path):
    doc = results_for(tmp_path, level_with(1, 1.0, 0.1), level_with(2, 2.0, 0.1))
    best = doc["best"]
    assert best["spread"]["method"] == "bootstrap" and best["within_noise"] is False
    gain = best["spread"]["gain"]
    assert 0.7 < gain["low"] < 1.0 < gain["high"] < 1.3  # about +100% (twice as fast)
    summary = gain_summary(doc["_task"], doc)
    assert summary["text"].startswith("+") and "90% interval" in summary["text"] and "noise" not in summary["text"]


def test_a_gain_smaller_than_the_noise_says_so(tmp_path):
    doc = results_for(tmp_path, level_with(3, 0.99, 0.4), level_with(3, 1.0, 0.4))  # same draws, 1% apart
    assert doc["best"]["id"] == 2  # measured higher, so ranked first ...
    assert doc["best"]["within_noise"] is True  # ... but the interval includes zero
    low, high = doc["best"]["spread"]["gain"]["low"], doc["best"]["spread"]["gain"]["high"]
    assert low < 0 < high
    assert "within noise" in gain_summary(doc["_task"], doc)["text"]


def test_the_bootstrap_is_seeded_and_deterministic(tmp_path):
    a = results_for(tmp_path / "a", level_with(5, 1.0, 0.3), level_with(6, 1.1, 0.3))["best"]
    b = results_for(tmp_path / "b", level_with(5, 1.0, 0.3), level_with(6, 1.1, 0.3))["best"]
    assert a["spread"] == b["spread"] and a["within_noise"] == b["within_noise"]


def test_an_slo_met_by_less_than_its_spread_is_marginal(tmp_path):
    best = level_with(7, 0.5, 0.3)
    limit = best["metrics"]["ttft_p90"] * 1.01  # met, by 1%: far less than the spread of a p90 of 60 requests
    doc = results_for(tmp_path, best, level_with(8, 1.0, 0.3), slo={"ttft_p90": limit})
    marginal = doc["best"]["marginal_slos"]
    assert [m["metric"] for m in marginal] == ["ttft_p90"]
    assert marginal[0]["value"] <= limit < marginal[0]["high"]
    assert "ttft_p90" in gain_summary(doc["_task"], doc)["text"] and "marginal" in gain_summary(doc["_task"], doc)["text"]
    roomy = results_for(tmp_path / "roomy", level_with(7, 0.5, 0.3), level_with(8, 1.0, 0.3), slo={"ttft_p90": 5.0})
    assert roomy["best"]["marginal_slos"] == []


def test_repeats_give_the_spread_when_the_budget_allowed_them(tmp_path):
    task = task_from_dict(task_doc("rep"))
    store = Store(str(tmp_path / "db.sqlite"))
    row = store.create_task(task.name, task.model_dump(mode="json"), status="succeeded")
    for params, values, baseline in (({}, [100.0, 104.0, 96.0], True), ({"max-running-requests": 64},
                                                                      [103.0, 99.0, 107.0], False)):
        runs = [{"output_throughput": v, "ttft_p90": 0.5} for v in values]
        mean = sum(values) / 3
        store.add_experiment(row.id, params, baseline=baseline, status="succeeded", metrics=runs[0], score=mean,
                             scores=[mean], levels=[], extra={"repeats": runs[1:], "mean_metrics": {
                                 "output_throughput": mean, "ttft_p90": 0.5},
                                 "spread": {"n": 3, "mean": mean, "min": min(values), "max": max(values)}})
    doc = build_results(store, row.id)
    store.dispose()
    spread = doc["best"]["spread"]
    assert spread["method"] == "repeats" and spread["best"]["n"] == 3
    assert spread["gain"]["low"] == pytest.approx(99 / 104 - 1) and spread["gain"]["high"] == pytest.approx(107 / 96 - 1)
    assert doc["best"]["within_noise"] is True
    assert "over 3 runs of the best" in gain_summary(task, doc)["text"]


def test_without_repeats_or_samples_the_spread_is_unknown_and_said_so(tmp_path):
    bare = level_with(9, 1.0, 0.1)
    base = level_with(10, 2.0, 0.1)
    bare["requests"], base["requests"] = [], []
    doc = results_for(tmp_path, bare, base)
    assert doc["best"]["spread"] is None and doc["best"]["within_noise"] is None
    assert "spread unknown" in gain_summary(doc["_task"], doc)["text"]


def test_the_request_sample_is_bounded_and_skips_failures():
    records = [RequestRecord(start=i, end=i + 1.0, first_token=i + 0.1, output_tokens=5, input_tokens=3)
               for i in range(5000)] + [RequestRecord(start=0, end=1, error="HTTP 500")]
    rows = request_sample(records, limit=1000)
    assert len(rows) == 1000 and rows[0] == [0.1, 0.225, 1.0, 3, 5]
    assert request_sample(records[:10]) and len(request_sample(records[-1:])) == 0
