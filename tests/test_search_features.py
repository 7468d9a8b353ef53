"""Search features against a fake runner: parallel slots, Pareto fronts, failure regions, pruning."""

import threading
import time

from autotuner.deploy.gpu_pool import GpuPool
from autotuner.report.results import build_results
from autotuner.search.runners import Outcome
from autotuner.service.session import RunOptions, prepare_task
from autotuner.search.tuner import Tuner
from autotuner.spec import task_from_dict
from autotuner.store import Store

from .fake_runner import FakeRunner, tmp_db


def run(task, runner, pool):
    store = Store(f"sqlite:///{tmp_db()}")
    task_id = prepare_task(store, task, RunOptions())
    Tuner(task, store, task_id, runner, GpuPool(list(pool))).run()
    return store, task_id


class OverlapTracker(FakeRunner):
    """Holds each experiment a little while and records GPU sets in use at the same time."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.in_use: set[int] = set()
        self.overlaps = 0
        self.max_parallel = 0
        self.active = 0
        self.guard = threading.Lock()

    def run(self, params, gpus, name, on_phase, on_level, cancel):
        with self.guard:
            if self.in_use & set(gpus):
                self.overlaps += 1
            self.in_use |= set(gpus)
            self.active += 1
            self.max_parallel = max(self.max_parallel, self.active)
        time.sleep(0.05)
        try:
            return super().run(params, gpus, name, on_phase, on_level, cancel)
        finally:
            with self.guard:
                self.in_use -= set(gpus)
                self.active -= 1


def test_parallel_runs_never_duplicate_and_never_share_gpus():
    task = task_from_dict({
        "name": "par", "model": "m", "engine": "sglang", "gpus": 4,
        "search": {"strategy": "bayesian", "max_experiments": 16, "parallel": 3, "seed": 3, "baseline": False,
                   "space": {"tp-size": [1, 2], "max-running-requests": [8, 16, 32, 64, 128],
                             "chunked-prefill-size": [1024, 2048, 4096]}},
        "objective": {"maximize": "output_throughput"},
    })
    runner = OverlapTracker(lambda p, c: {"output_throughput": p["max-running-requests"] * p["tp-size"] * 1.0,
                                          "ttft_p90": 0.1})
    run(task, runner, range(4))
    keys = [tuple(sorted(c.items())) for c in runner.calls]
    assert len(keys) == 16 and len(set(keys)) == 16
    assert runner.overlaps == 0
    assert runner.max_parallel >= 2
    assert all(len(g) == c["tp-size"] for g, c in zip(runner.gpus_seen, runner.calls))


def test_multi_objective_gives_a_pareto_front():
    task = task_from_dict({
        "name": "mo", "model": "m", "engine": "sglang",
        "search": {"strategy": "grid", "baseline": False, "space": {"max-running-requests": [8, 16, 32, 64]}},
        "objectives": [{"maximize": "output_throughput"}, {"minimize": "ttft_p90"}],
        "slo": {"ttft_p90": 0.7},
    })
    # throughput and latency both grow with the batch: every feasible point is a trade-off
    runner = FakeRunner(lambda p, c: {"output_throughput": float(p["max-running-requests"]),
                                      "ttft_p90": p["max-running-requests"] / 80})
    store, task_id = run(task, runner, [0])
    doc = build_results(store, task_id)
    front = sorted(e["parameters"]["max-running-requests"] for e in doc["pareto"])
    assert front == [8, 16, 32]  # 64 misses the SLO, so it is not on the front


def _oom_region_visits(strategy: str) -> list[bool]:
    fracs = [round(0.5 + 0.01 * i, 2) for i in range(50)]
    task = task_from_dict({
        "name": "oom", "model": "m", "engine": "sglang",
        "search": {"strategy": strategy, "max_experiments": 30, "seed": 0, "baseline": False,
                   "space": {"mem-fraction-static": fracs,
                             "max-running-requests": [8, 16, 24, 32, 48, 64, 96, 128]}},
        "objective": {"maximize": "output_throughput"},
    })

    def model(p, c):
        if p["mem-fraction-static"] >= 0.8:
            return Outcome(False, error="CUDA out of memory", reason="oom")
        return {"output_throughput": 100 - abs(p["mem-fraction-static"] - 0.66) * 100
                + p["max-running-requests"] / 10, "ttft_p90": 0.1}

    runner = FakeRunner(model)
    run(task, runner, [0])
    return [c["mem-fraction-static"] >= 0.8 for c in runner.calls]


def test_failed_region_is_avoided_after_first_failures():
    # 40% of the space (mem-fraction >= 0.8) fails to start; the best lies inside the working part.
    # Told the failures as constraint violations, TPE spends far fewer of its later experiments
    # there than random sampling does.
    tpe, rnd = _oom_region_visits("bayesian"), _oom_region_visits("random")
    assert sum(tpe[:10]) >= 1  # it did meet the failure region during start-up
    assert sum(tpe[10:]) <= 5 < sum(rnd[10:])


def test_pruning_stops_a_hopeless_experiment_before_its_last_level():
    task = task_from_dict({
        "name": "prune", "model": "m", "engine": "sglang",
        "search": {"strategy": "grid", "baseline": False, "space": {"max-running-requests": [4, 64]}},
        "objective": {"maximize": "output_throughput"}, "slo": {"ttft_p90": 1.0},
        "workload": {"concurrency": [2, 8, 32]},
    })
    levels_run: dict[int, list[int]] = {}

    def model(p, c):
        levels_run.setdefault(p["max-running-requests"], []).append(c)
        slow = 3.0 if p["max-running-requests"] == 4 else 0.1
        return {"output_throughput": float(min(c, p["max-running-requests"])), "ttft_p90": slow}

    store, task_id = run(task, FakeRunner(model, concurrency=(2, 8, 32)), [0])
    assert levels_run[4] == [2]  # missed the TTFT SLO at the lowest load: the rest cannot be feasible
    assert levels_run[64] == [2, 8, 32]
    statuses = {e.params["max-running-requests"]: e.status for e in store.experiments(task_id)}
    assert statuses == {4: "infeasible", 64: "succeeded"}


class _ProneTrial:
    """An Optuna trial whose pruner always says stop."""

    def __init__(self):
        self.reports = []

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return True


def test_not_competitive_stops_before_the_last_level_never_after_it():
    from autotuner.bench.result import LevelResult
    from autotuner.search.early_stop import EarlyStopper

    task = task_from_dict({"name": "p", "model": "m", "engine": "sglang",
                           "search": {"space": {"max-running-requests": [8, 16]}, "level_order": "as_written"},
                           "objective": {"maximize": "output_throughput"}, "slo": {"ttft_p90": 1.0},
                           "workload": {"scenarios": ["D(64,16)"], "concurrency": [2, 8, 32]}})
    level = lambda c: LevelResult("D(64,16)", c, metrics={"output_throughput": 10.0 * c, "ttft_p90": 0.1})  # noqa: E731
    stopper = EarlyStopper(task, _ProneTrial())
    assert not stopper.on_level(level(8)) and stopper.verdict == "not competitive"  # levels left: stop
    at_the_end = EarlyStopper(task, _ProneTrial())
    assert at_the_end.on_level(level(32)) and at_the_end.verdict is None  # measured whole: not pruned
    assert at_the_end.trial.reports == [(0, 320.0)]
