"""The tuning loop against a fake runner: budget, duplicates, failures, constraints, resume."""

import math

import pytest

from autotuner.deploy.gpu_pool import GpuPool
from autotuner.report.results import build_results
from autotuner.search.runners import Outcome
from autotuner.service.session import RunOptions, prepare_task
from autotuner.search.tuner import Tuner
from autotuner.spec import task_from_dict
from autotuner.store import Store

from .fake_runner import FakeRunner, tmp_db


def make_task(**search):
    return task_from_dict({
        "name": "fake", "model": "m", "engine": "sglang",
        "search": {"strategy": "grid", "max_experiments": 50, "seed": 1, "baseline": False,
                   "space": {"max-running-requests": [8, 16, 32, 64], "chunked-prefill-size": [1024, 4096]},
                   **search},
        "objective": {"maximize": "output_throughput"},
        "slo": {"ttft_p90": 1.0},
        "workload": {"concurrency": [4, 16]},
    })


def model(params, c):
    mrr, chunk = params.get("max-running-requests", 32), params.get("chunked-prefill-size", 2048)
    if mrr == 64 and chunk == 4096:
        return Outcome(False, error="CUDA out of memory", reason="oom")
    served = min(mrr, c)
    return {"output_throughput": served * 100.0 + mrr / 10 + chunk / 1024, "ttft_p90": 0.1 * c / served + (0.95 if mrr == 8 else 0)}


def run(task, runner, store=None, pool=(0, 1)):
    store = store or Store(f"sqlite:///{tmp_db()}")
    task_id = prepare_task(store, task, RunOptions())
    Tuner(task, store, task_id, runner, GpuPool(list(pool))).run()
    return store, task_id


def test_grid_measures_each_configuration_once_and_classifies_outcomes():
    runner = FakeRunner(model, concurrency=(4, 16))
    store, task_id = run(make_task(), runner)
    keys = [tuple(sorted(c.items())) for c in runner.calls]
    assert len(keys) == 8 and len(set(keys)) == 8  # space of 8, budget 50: stops when exhausted
    doc = build_results(store, task_id)
    by_params = {(e["parameters"]["max-running-requests"], e["parameters"]["chunked-prefill-size"]): e
                 for e in doc["experiments"]}
    assert by_params[(64, 4096)]["status"] == "failed" and "oom" in by_params[(64, 4096)]["error"]
    # mrr=8 queues at c=16 and misses TTFT at c=4 already: infeasible (stopped after the first level)
    assert by_params[(8, 1024)]["status"] == "infeasible" and "ttft_p90" in by_params[(8, 1024)]["error"]
    assert "stopped early" in by_params[(8, 1024)]["error"]
    best = doc["best"]
    assert best["parameters"] == {"max-running-requests": 64, "chunked-prefill-size": 1024}
    assert best["metrics"]["ttft_p90"] <= 1.0
    assert "--max-running-requests 64" in best["command"]


def test_budget_is_respected_and_duplicates_are_not_rerun():
    runner = FakeRunner(model, concurrency=(4,))
    run(make_task(strategy="random", max_experiments=5), runner)
    assert len(runner.calls) == 5
    assert len({tuple(sorted(c.items())) for c in runner.calls}) == 5


def test_infeasible_never_best():
    def slo_breaker(params, c):
        m = model(params, c)
        if isinstance(m, dict) and params["max-running-requests"] == 64:
            m["ttft_p90"] = 5.0  # highest throughput, but misses the SLO
        return m
    store, task_id = run(make_task(prune=False), FakeRunner(slo_breaker, concurrency=(4,)))
    doc = build_results(store, task_id)
    assert doc["best"]["parameters"]["max-running-requests"] == 32
    statuses = {e["status"] for e in doc["experiments"] if e["parameters"]["max-running-requests"] == 64}
    assert statuses <= {"infeasible", "failed"}


def test_resume_keeps_finished_experiments(tmp_path):
    store = Store(f"sqlite:///{tmp_path/'db.sqlite'}")
    task = make_task()
    first = FakeRunner(model, concurrency=(4,), interrupt_after=3)
    with pytest.raises(KeyboardInterrupt):
        run(task, first, store)
    second = FakeRunner(model, concurrency=(4,))
    run(task, second, store)
    done_first = [tuple(sorted(c.items())) for c in first.calls[:3]]
    done_second = [tuple(sorted(c.items())) for c in second.calls]
    assert not set(done_first) & set(done_second)
    assert len(set(done_first) | set(done_second)) == 8
    task_id = store.task_by_name("fake").id
    statuses = [e.status for e in store.experiments(task_id)]
    assert statuses.count("interrupted") == 1


def test_known_constraints_reject_before_running():
    task = task_from_dict({
        "name": "tp", "model": "m", "engine": "sglang", "gpus": 2,
        "search": {"strategy": "grid", "baseline": False, "space": {"tp-size": [1, 2, 4]}},
        "objective": {"maximize": "output_throughput"},
    })
    runner = FakeRunner(lambda p, c: {"output_throughput": 10.0 * p["tp-size"], "ttft_p90": 0.1})
    store, task_id = run(task, runner)
    assert sorted(c["tp-size"] for c in runner.calls) == [1, 2]
    rejected = [e for e in store.experiments(task_id) if e.status == "rejected"]
    assert len(rejected) == 1 and "needs 4 GPUs" in rejected[0].error
    assert all(len(g) == c["tp-size"] for g, c in zip(runner.gpus_seen, runner.calls))


def test_baseline_runs_first_with_fixed_args_only():
    task = make_task(baseline=True, max_experiments=2)
    runner = FakeRunner(model, concurrency=(4,))
    store, task_id = run(task, runner)
    assert runner.calls[0] == {}
    doc = build_results(store, task_id)
    assert doc["baseline"]["baseline"] is True and len(doc["experiments"]) == 3
    assert not math.isnan(doc["baseline"]["score"])


def test_confirmation_repeats_choose_on_the_mean_and_report_the_spread():
    import itertools
    counter = itertools.count()

    def noisy(params, c):
        n = next(counter)
        # 64's first run is lucky; its repeats are poor, so on the mean 32 wins.
        lucky = params.get("max-running-requests") == 64 and n < 3
        base = {8: 100.0, 16: 200.0, 32: 300.0, 64: 250.0}.get(params.get("max-running-requests"), 150.0)
        return {"output_throughput": 400.0 if lucky else base, "ttft_p90": 0.1}

    task = task_from_dict({
        "name": "noisy", "model": "m", "engine": "sglang",
        "search": {"strategy": "grid", "seed": 0, "repeats": 3, "top_k": 2, "baseline": True, "prune": False,
                   "space": {"max-running-requests": [64, 8, 16, 32]}},
        "objective": {"maximize": "output_throughput"}, "slo": {"ttft_p90": 1.0},
        "workload": {"concurrency": [4]},
    })
    store, task_id = run(task, FakeRunner(noisy, concurrency=(4,)))
    doc = build_results(store, task_id)
    best = doc["best"]
    assert best["parameters"]["max-running-requests"] == 32
    spreads = {e["parameters"].get("max-running-requests"): e.get("spread") for e in doc["experiments"]}
    assert spreads[64]["n"] == 3 and spreads[64]["max"] == 400.0 and spreads[64]["min"] == 250.0
    assert doc["baseline"]["spread"]["n"] == 3
    assert "_spread" in best["gain_over_baseline"]


def test_the_defaults_are_a_known_point_of_the_space_and_never_measured_twice():
    # llama.cpp's defaults: --parallel -1 (auto: 4 slots), --ubatch-size 512; both inside this space.
    task = task_from_dict({
        "name": "defaults", "model": "m.gguf", "engine": "llamacpp",
        "search": {"strategy": "grid", "max_experiments": 50, "seed": 1,
                   "space": {"parallel": [1, 4, 8], "ubatch-size": [128, 512]}},
        "objective": {"maximize": "output_throughput"},
        "workload": {"concurrency": [4]},
    })

    def slots(params, c):
        return {"output_throughput": 10.0 * params.get("parallel", 4) + params.get("ubatch-size", 512) / 100,
                "ttft_p90": 0.1}

    runner = FakeRunner(slots, concurrency=(4,))
    store, task_id = run(task, runner, pool=(0,))
    assert runner.calls[0] == {}  # the baseline: the engine's own defaults
    measured = [tuple(sorted(c.items())) for c in runner.calls[1:]]
    assert len(measured) == 5 and (("parallel", 4), ("ubatch-size", 512)) not in measured
    tuner = Tuner(task, store, task_id, runner, GpuPool([0]))
    told = [t.params for t in tuner.study.get_trials() if t.state.is_finished() and t.values]
    assert told[0] == tuner.codec.encode({"parallel": 4, "ubatch-size": 512})  # the baseline, told first
    doc = build_results(store, task_id)
    assert doc["best"]["parameters"] == {"parallel": 8, "ubatch-size": 512}
    assert [e["kind"] for e in store_events(store, task_id)].count("baseline_in_space") == 1


def store_events(store, task_id):
    return [{"kind": e.kind, **e.data} for e in store.events(task_id)]
