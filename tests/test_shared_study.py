"""Many tuners, one study: workers share one task's experiments through leases, on SQLite and PostgreSQL."""

import threading

import optuna
import pytest
from optuna.trial import TrialState

from autotuner.service.worker import Worker
from autotuner.deploy.gpu_pool import GpuPool
from autotuner.service.session import RunOptions
from autotuner.search.tuner import Tuner
from autotuner.spec import task_from_dict
from autotuner.store import Store

from .api_fakes import FakeExecute, SlowRunner, task_doc, wait_for
from .fake_runner import tmp_db
from .pg_support import fresh_database


@pytest.fixture(scope="module")
def pg_url():
    yield from fresh_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = str(tmp_path / "db.sqlite") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = Store(url)
    yield s
    if request.param == "postgresql":
        with s.engine.begin() as conn:  # Optuna's tables stay: studies are named per task id
            for table in ("at_events", "at_experiments", "at_tasks"):
                conn.exec_driver_sql(f"DELETE FROM {table}")
    s.dispose()


def queue(store: Store, tmp_path, name: str, budget: int) -> int:
    task = task_from_dict(task_doc(name, budget))
    return store.create_task(task.name, task.model_dump(mode="json"), status="queued",
                             options=RunOptions(out_dir=tmp_path / "runs").to_dict()).id


def sharing_worker(store: Store, name: str, seconds: float, lease: float = 5.0) -> Worker:
    return Worker(store, name, lease_seconds=lease, poll_seconds=0.05, join=True,
                  run_task=FakeExecute(seconds, mode="owner", worker=name, lease_seconds=lease),
                  help_task=FakeExecute(seconds, mode="helper", worker=name, lease_seconds=lease))


def measured(store: Store, task_id: int) -> list:
    return [e for e in store.experiments(task_id)
            if not e.baseline and e.status in ("succeeded", "failed", "infeasible", "pruned")]


def study_of(store: Store, task_id: int) -> optuna.Study:
    return optuna.load_study(study_name=f"autotuner-task-{task_id}", storage=store.url)


def test_two_workers_split_one_task_without_running_a_configuration_twice(store, tmp_path):
    task_id = queue(store, tmp_path, f"shared-{store.engine.dialect.name}", budget=6)
    workers = [sharing_worker(store, f"w{i}", seconds=0.4) for i in (1, 2)]
    threads = [threading.Thread(target=w.serve_forever) for w in workers]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: store.task(task_id).status == "succeeded", timeout=90, interval=0.1)
    finally:
        for w in workers:
            w.stop()
        for t in threads:
            t.join(30)
    done = measured(store, task_id)
    assert len(done) == 6
    assert len({e.params_key for e in done}) == 6  # no configuration measured twice
    assert {e.worker for e in done} == {"w1", "w2"}  # both did part of it
    assert not [e for e in store.experiments(task_id) if e.status in ("running", "pending")]
    assert not study_of(store, task_id).get_trials(states=(TrialState.RUNNING,))
    assert (tmp_path / "runs" / store.task(task_id).name / "results.json").is_file()  # the owner ended it


def test_an_experiment_whose_lease_expired_is_taken_back_and_run_once(store, tmp_path):
    task_id = queue(store, tmp_path, f"lapsed-{store.engine.dialect.name}", budget=3)
    task = task_from_dict(store.task(task_id).spec)
    store.update_task(task_id, status="running")
    # A helper reserved an experiment and died: nobody renews its 0.5 s lease.
    dead = Tuner(task, store, task_id, SlowRunner(0), GpuPool(task.gpu_ids), mode="helper", worker="dead")
    trial = dead.study.ask(dead.dists)
    lost = store.reserve_experiment(task_id, dead.codec.decode(trial.params), trial.number, "dead", 0.5, 3,
                                    status="running").row
    owner = FakeExecute(0.05, mode="owner", worker="alive", lease_seconds=5)
    assert owner(store, task, task_id, RunOptions(out_dir=tmp_path), None, threading.Event()) == "succeeded"

    lost_now = store.experiment(lost.id)
    assert lost_now.status == "interrupted" and "dead" in lost_now.error
    again = [e for e in measured(store, task_id) if e.params_key == lost.params_key]
    assert [e.worker for e in again] == ["alive"]  # run again, once, by the live tuner
    assert len(measured(store, task_id)) == 3 and len({e.params_key for e in measured(store, task_id)}) == 3
    assert study_of(store, task_id).trials[trial.number].state == TrialState.FAIL
    # The dead worker comes back with a late result: it is not recorded over the take-back.
    assert not store.finish_experiment(lost.id, "dead", status="succeeded", score=1.0)
    assert store.experiment(lost.id).status == "interrupted"


def test_a_cancel_stops_the_helper_too(store, tmp_path):
    task_id = queue(store, tmp_path, f"cancel-{store.engine.dialect.name}", budget=8)
    workers = [sharing_worker(store, f"c{i}", seconds=2.0, lease=3.0) for i in (1, 2)]
    threads = [threading.Thread(target=w.serve_forever) for w in workers]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: {e.worker for e in store.experiments(task_id) if e.status == "running"} == {"c1", "c2"},
                 timeout=30, interval=0.05)
        store.update_task(task_id, cancel_requested=True)
        wait_for(lambda: store.task(task_id).status == "cancelled"
                 and not [e for e in store.experiments(task_id) if e.status == "running"], timeout=30)
    finally:
        for w in workers:
            w.stop()
        for t in threads:
            t.join(30)
    assert all(w.running_task is None for w in workers)
    assert len(measured(store, task_id)) < 8
