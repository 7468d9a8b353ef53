"""An outclassed experiment tells the sampler the bound it cannot exceed, not "infeasible" (constructed
measurements, no engine)."""

from __future__ import annotations

import optuna

from autotuner.bench.result import LevelResult
from autotuner.deploy.gpu_pool import GpuPool
from autotuner.search.early_stop import EarlyStopper, upper_bound
from autotuner.search.tuner import Tuner
from autotuner.service.session import RunOptions, prepare_task
from autotuner.spec import task_from_dict
from autotuner.store import Store

from .fake_runner import FakeRunner, tmp_db

SCENARIO = "D(64,16)"


def make_task(**search):
    return task_from_dict({"name": "bound", "model": "m", "engine": "sglang",
                           "search": {"strategy": "grid", "space": {"max-running-requests": [64, 8]},
                                      "level_order": "informative", "baseline": False, "parallel": 1, **search},
                           "objective": {"maximize": "output_throughput"}, "slo": {"ttft_p90": 1.0},
                           "workload": {"scenarios": [SCENARIO], "concurrency": [2, 8, 32], "num_requests": 100}})


def level(c: int, throughput: float, ttft: float) -> LevelResult:
    return LevelResult(SCENARIO, c, metrics={"output_throughput": throughput, "ttft_p90": ttft, "num_requests": 100.0})


def test_an_outclassed_experiment_keeps_the_bound_it_cannot_exceed():
    stopper = EarlyStopper(make_task(), None, incumbent=200.0)
    assert stopper.on_level(level(32, 100.0, 3.0)) is False and stopper.verdict == "outclassed"
    assert stopper.bound == upper_bound(100.0, 100.0) and stopper.bound < 200.0
    close = EarlyStopper(make_task(), None, incumbent=110.0)  # within the error: lower loads are measured
    assert close.on_level(level(32, 100.0, 3.0)) is True and close.bound is None


def test_the_sampler_is_told_the_bound_as_a_feasible_value():
    def model(params, c):  # mrr 64: feasible at every load, 10x the throughput; mrr 8 misses the SLO at 32
        if params["max-running-requests"] == 64:
            return {"output_throughput": 100.0 * c, "ttft_p90": 0.5, "duration": 1.0}
        return {"output_throughput": 5.0 * c, "ttft_p90": 3.0 if c == 32 else 0.5, "duration": 1.0}

    for seed in range(8):  # the grid's order follows the seed: find one that measures mrr 64 first
        task = make_task(seed=seed)
        store = Store(f"sqlite:///{tmp_db()}")
        task_id = prepare_task(store, task, RunOptions())
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        tuner = Tuner(task, store, task_id, FakeRunner(model, concurrency=(32, 8, 2), scenario=SCENARIO), GpuPool([0]))
        tuner.run()
        worse = next(e for e in store.experiments(task_id) if e.params["max-running-requests"] == 8)
        if worse.extra.get("early_stop") == "outclassed":
            break
        assert worse.status == "succeeded"  # measured first: no incumbent to lose to, a full measurement
    else:
        raise AssertionError("no seed measured the better configuration first")
    assert worse.status == "infeasible" and len(worse.levels) == 1  # recorded by what it measured
    trial = tuner.study.trials[worse.trial_number]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert trial.value == upper_bound(160.0, 1.0) < 3200.0  # the fake levels count no requests: n = 1
    assert all(v == 0.0 for v in trial.system_attrs.get("constraints", [0.0]))
