"""The experiment executor on its own: status, recording, events, the log path the deployer reports."""

import threading

from autotuner.deploy.gpu_pool import GpuPool
from autotuner.search.experiment import Events, ExperimentExecutor, experiment_name
from autotuner.search.runners import Outcome
from autotuner.service.session import RunOptions, prepare_task
from autotuner.spec import task_from_dict
from autotuner.store import Store

from .fake_runner import FakeRunner, tmp_db


def make_task():
    return task_from_dict({
        "name": "exe", "model": "m", "engine": "sglang",
        "search": {"strategy": "grid", "max_experiments": 4, "baseline": False,
                   "space": {"max-running-requests": [8, 64], "tp-size": [1, 2]}},
        "objective": {"maximize": "output_throughput"}, "slo": {"ttft_p90": 1.0},
        "workload": {"concurrency": [4]},
    })


class LoggingRunner(FakeRunner):
    """Says where its engine logs go, and notes what the store held while it ran."""

    def __init__(self, model, store, tmp_path):
        super().__init__(model, concurrency=(4,))
        self.store, self.tmp_path, self.seen_while_running = store, tmp_path, []

    def log_path(self, name):
        return str(self.tmp_path / f"{name}.log")

    def run(self, params, gpus, name, on_phase, on_level, cancel):
        self.seen_while_running.append(self.store.experiments(1)[-1].log_path)
        return super().run(params, gpus, name, on_phase, on_level, cancel)


def model(params, c):
    if params["tp-size"] == 2 and params["max-running-requests"] == 64:
        return Outcome(False, error="CUDA out of memory", reason="oom")
    return {"output_throughput": 10.0 * params["max-running-requests"],
            "ttft_p90": 2.0 if params["max-running-requests"] == 8 and params["tp-size"] == 2 else 0.1}


def executor_for(tmp_path):
    store = Store(f"sqlite:///{tmp_db()}")
    task = make_task()
    task_id = prepare_task(store, task, RunOptions())
    events = []
    runner = LoggingRunner(model, store, tmp_path)
    ex = ExperimentExecutor(task, store, task_id, runner, GpuPool([0, 1]),
                            Events(store, task_id, lambda kind, data: events.append((kind, data))),
                            threading.Event(), "w1")
    return ex, store, task_id, runner, events


def run_one(ex, store, task_id, params):
    exp = store.add_experiment(task_id, params)
    done = ex.run(exp, params)
    ex.record(exp, params, done)
    return done, store.experiment(exp.id)


def test_the_executor_names_each_status_once_and_records_it(tmp_path):
    ex, store, task_id, runner, events = executor_for(tmp_path)
    done, row = run_one(ex, store, task_id, {"max-running-requests": 64, "tp-size": 1})
    assert done.status == row.status == "succeeded" and row.score == 640.0
    assert runner.gpus_seen[-1] == [0]  # one GPU for tp 1
    done, row = run_one(ex, store, task_id, {"max-running-requests": 64, "tp-size": 2})
    assert done.status == row.status == "failed" and row.error.startswith("oom: CUDA out of memory")
    assert runner.gpus_seen[-1] == [0, 1]  # GPUs from the merged engine config
    done, row = run_one(ex, store, task_id, {"max-running-requests": 8, "tp-size": 2})
    assert done.status == "infeasible" and "ttft_p90" in row.error
    kinds = [k for k, _ in events]
    assert kinds.count("experiment_started") == 3 and kinds.count("experiment_finished") == 3
    assert kinds.count("best_changed") == 1 and ex.best_score == 640.0
    assert [e.kind for e in store.events(task_id)].count("experiment_finished") == 3  # stored, not only sent


def test_the_deployers_log_path_is_known_while_the_experiment_runs(tmp_path):
    ex, store, task_id, runner, _ = executor_for(tmp_path)
    _, row = run_one(ex, store, task_id, {"max-running-requests": 64, "tp-size": 1})
    expected = str(tmp_path / f"{experiment_name('exe', row.id)}.log")
    assert runner.seen_while_running == [expected]
    assert row.log_path == expected


def test_a_cancel_requested_through_the_database_reaches_the_executor(tmp_path):
    ex, store, task_id, _, _ = executor_for(tmp_path)
    assert not ex.cancel.is_set()
    store.update_task(task_id, cancel_requested=True)
    assert ex.cancelled() and ex.cancel.is_set()
