"""Each early-stop rule deciding on constructed measurements (no engine, no benchmark)."""

from __future__ import annotations

import pytest

from autotuner.bench.result import LevelResult
from autotuner.search.early_stop import EarlyStopper, make_pruner, upper_bound
from autotuner.search.fidelity import InformativeWorkload, informative, workload_for
from autotuner.spec import task_from_dict

SCENARIO = "D(64,16)"


def make_task(objective: dict | None = None, **search) -> object:
    return task_from_dict({"name": "rules", "model": "m", "engine": "sglang",
                           "search": {"space": {"max-running-requests": [8, 16]}, "level_order": "informative",
                                      **search},
                           "objective": objective or {"maximize": "output_throughput"}, "slo": {"ttft_p90": 1.0},
                           "workload": {"scenarios": [SCENARIO], "concurrency": [2, 8, 32], "num_requests": 100}})


def level(c: int, throughput: float, ttft: float, n: int = 100) -> LevelResult:
    return LevelResult(SCENARIO, c, metrics={"output_throughput": throughput, "ttft_p90": ttft,
                                             "num_requests": float(n)})


def test_informative_order_is_highest_load_first_and_only_for_rate_objectives():
    task = make_task()
    assert informative(task)
    assert [c for _, c, _ in workload_for(task).levels()] == [32, 8, 2]
    assert isinstance(workload_for(task), InformativeWorkload)
    assert [c for _, c, _ in workload_for(make_task(level_order="as_written")).levels()] == [2, 8, 32]
    assert not informative(make_task(prune=False))
    default = task_from_dict({**task.model_dump(mode="json"), "search": {"space": {"max-running-requests": [8]}}})
    assert not informative(default)  # opt-in: the default order is as written
    latency = make_task({"minimize": "ttft_p90"})
    assert not informative(latency) and workload_for(latency) is latency.workload
    assert isinstance(make_pruner(task), __import__("optuna").pruners.NopPruner)  # its own rules decide


def test_settled_when_the_highest_level_meets_the_slo():
    stopper = EarlyStopper(make_task(), None)
    assert stopper.on_level(level(32, 320.0, 0.5)) is False
    assert stopper.verdict == "settled"


def test_a_miss_at_high_load_goes_on_to_lower_loads_then_settles():
    stopper = EarlyStopper(make_task(), None)
    assert stopper.on_level(level(32, 320.0, 3.0)) is True  # misses: the lower loads may meet it
    assert stopper.on_level(level(8, 80.0, 0.4)) is False
    assert stopper.verdict == "settled"


def test_cannot_meet_the_slo_when_the_lowest_level_misses():
    stopper = EarlyStopper(make_task(), None)
    assert stopper.on_level(level(32, 320.0, 3.0))
    assert stopper.on_level(level(8, 80.0, 2.0))
    assert stopper.on_level(level(2, 20.0, 1.5)) is True  # the last level: a plain measurement
    ascending = EarlyStopper(make_task(), None)  # lowest first (e.g. a runner's own order): hopeless at once
    assert ascending.on_level(level(2, 20.0, 1.5)) is False and ascending.verdict == "hopeless"


def test_cannot_beat_the_incumbent_counts_the_measurement_error():
    # 100 requests: relative error bound 1.645 / sqrt(100) = 16.45%.
    assert upper_bound(100.0, 100) == pytest.approx(116.45, abs=0.01)
    clear = EarlyStopper(make_task(), None, incumbent=120.0)
    assert clear.on_level(level(32, 100.0, 3.0)) is False and clear.verdict == "outclassed"
    close = EarlyStopper(make_task(), None, incumbent=110.0)  # within the error: measure lower loads
    assert close.on_level(level(32, 100.0, 3.0)) is True and close.verdict is None
    many = EarlyStopper(make_task(), None, incumbent=110.0)  # 10 000 requests: a 1.6% bound
    assert many.on_level(level(32, 100.0, 3.0, n=10_000)) is False and many.verdict == "outclassed"
    nobody = EarlyStopper(make_task(), None)  # no incumbent yet: nothing to lose against
    assert nobody.on_level(level(32, 100.0, 3.0)) is True


def test_a_feasible_level_beats_the_incumbent_rule():
    # Feasible below the incumbent: a complete (settled) measurement, not "not competitive".
    stopper = EarlyStopper(make_task(), None, incumbent=500.0)
    assert stopper.on_level(level(32, 100.0, 0.5)) is False and stopper.verdict == "settled"


def test_two_scenarios_stop_only_when_both_are_decided():
    task = task_from_dict({**make_task().model_dump(mode="json"),
                           "workload": {"scenarios": [SCENARIO, "D(128,16)"], "concurrency": [2, 32]}})
    stopper = EarlyStopper(task, None, incumbent=1e9)
    first = LevelResult(SCENARIO, 32, metrics={"output_throughput": 1.0, "ttft_p90": 0.1, "num_requests": 100.0})
    assert stopper.on_level(first) is True  # settled, but the other scenario is still open
    other = LevelResult("D(128,16)", 32, metrics={"output_throughput": 1.0, "ttft_p90": 0.1, "num_requests": 100.0})
    assert stopper.on_level(other) is False and stopper.verdict == "settled"
    # Several families: one family's bound says nothing about the mean score, so no "lost".
    lost = EarlyStopper(task, None, incumbent=1e9)
    assert lost.on_level(LevelResult(SCENARIO, 32, metrics={"output_throughput": 1.0, "ttft_p90": 5.0,
                                                             "num_requests": 100.0})) is True


def test_prune_off_never_stops():
    stopper = EarlyStopper(make_task(prune=False), None, incumbent=1e9)
    assert stopper.on_level(level(2, 1.0, 5.0)) is True and stopper.verdict is None


def test_a_tuning_run_skips_levels_and_confirms_the_best_with_every_level():
    from autotuner.deploy.gpu_pool import GpuPool
    from autotuner.service.session import RunOptions, prepare_task
    from autotuner.search.tuner import Tuner
    from autotuner.store import Store

    from .fake_runner import FakeRunner, tmp_db

    def model(params, c):  # throughput grows with load; mrr=16 meets the TTFT SLO at every load
        mrr = params["max-running-requests"]
        return {"output_throughput": 10.0 * c + mrr, "ttft_p90": 0.2 if mrr == 16 else 0.3 * c,
                "num_requests": 100.0}

    task = make_task(strategy="grid", baseline=False)
    store = Store(f"sqlite:///{tmp_db()}")
    task_id = prepare_task(store, task, RunOptions())
    runner = FakeRunner(model, concurrency=(32, 8, 2), scenario=SCENARIO)  # the informative order
    Tuner(task, store, task_id, runner, GpuPool([0])).run()
    exps = {e.params["max-running-requests"]: e for e in store.experiments(task_id)}
    # mrr=16 settles at c=32 (one level), then is confirmed with every level (a third runner call).
    assert len(runner.calls) == 3
    best = exps[16]
    assert best.status == "succeeded" and len(best.levels) == 3
    assert best.extra["full_confirmation"] == {"screened_score": 336.0, "screened_levels": 1}
    assert best.score == 336.0  # the full benchmark agrees: the highest load was its best level
    # mrr=8 misses the SLO at c=32 and c=8; once mrr=16 is the incumbent, c=8's bound (88 x 1.16)
    # cannot beat 336: outclassed (recorded as measured: infeasible), c=2 is skipped. Before it, it would measure down to c=2.
    first = runner.calls[0]["max-running-requests"]
    if first == 16:
        assert exps[8].status == "infeasible" and len(exps[8].levels) == 2
    else:
        assert exps[8].status == "succeeded" and exps[8].score == 28.0 and len(exps[8].levels) == 3
