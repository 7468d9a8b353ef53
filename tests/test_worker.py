"""The queue worker: claim, run, lease take-over and resume, cancel across processes, shutdown."""

import threading
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from autotuner.api.app import create_app
from autotuner.service.worker import Worker
from autotuner.service.session import RunOptions
from autotuner.spec import task_from_dict
from autotuner.store.models import utcnow

from .api_fakes import FakeExecute, task_doc, wait_for


def queue(store, tmp_path, name="t1", budget=3):
    task = task_from_dict(task_doc(name, budget))
    options = RunOptions(out_dir=tmp_path / "runs")
    return store.create_task(task.name, task.model_dump(mode="json"), status="queued", options=options.to_dict()).id


def test_worker_runs_a_queued_task_and_writes_results(store, tmp_path):
    task_id = queue(store, tmp_path)
    run = FakeExecute()
    w = Worker(store, "w1", lease_seconds=5, run_task=run)
    assert w.run_once() == task_id
    row = store.task(task_id)
    assert row.status == "succeeded" and row.worker == "w1"
    assert store.count_experiments(task_id, ["succeeded"]) == 3
    assert (tmp_path / "runs" / "t1" / "results.json").is_file()
    assert w.run_once() is None  # nothing left


def test_an_expired_lease_is_taken_over_and_the_task_resumes(store, tmp_path):
    task_id = queue(store, tmp_path, budget=4)
    # A worker claimed it, finished two experiments and died mid-way through the third.
    assert store.claim_task("dead", lease_seconds=60).id == task_id
    FakeExecute()  # (nothing ran in this process for "dead")
    done = [store.add_experiment(task_id, {"max-running-requests": m, "chunked-prefill-size": 1024}, i,
                                 status="succeeded", metrics={"output_throughput": 100.0 * i, "ttft_p90": 0.1},
                                 score=100.0 * i) for i, m in enumerate((8, 16))]
    store.add_experiment(task_id, {"max-running-requests": 32, "chunked-prefill-size": 1024}, 2, status="running")
    run = FakeExecute()
    alive = Worker(store, "alive", lease_seconds=5, run_task=run)
    assert alive.run_once() is None  # the dead worker's lease still holds
    store.update_task(task_id, lease_until=utcnow() - timedelta(seconds=1))
    assert alive.run_once() == task_id
    row = store.task(task_id)
    assert row.status == "succeeded" and row.worker == "alive"
    statuses = {e.id: e.status for e in store.experiments(task_id)}
    assert all(statuses[e.id] == "succeeded" for e in done)  # kept, not re-run
    assert "interrupted" in statuses.values()
    assert store.count_experiments(task_id, ["succeeded"], baseline=False) == 4


def test_heartbeat_renews_the_lease_and_relays_a_cancel(store, tmp_path):
    task_id = queue(store, tmp_path, budget=8)
    w = Worker(store, "w1", lease_seconds=1.5, run_task=FakeExecute(seconds=30))
    t = threading.Thread(target=w.run_once)
    t.start()
    wait_for(lambda: store.task(task_id).status == "running" and store.experiments(task_id))
    first_lease = store.task(task_id).lease_until
    wait_for(lambda: store.task(task_id).lease_until > first_lease, timeout=5)
    asked = time.monotonic()
    store.update_task(task_id, cancel_requested=True)  # as another process's API does
    t.join(15)
    assert not t.is_alive() and time.monotonic() - asked < 5
    assert store.task(task_id).status == "cancelled"
    assert [e.kind for e in store.events(task_id)][-1] == "task_finished"


def test_a_cancel_requested_while_no_worker_ran_it_ends_the_task(store, tmp_path):
    task_id = queue(store, tmp_path)
    store.update_task(task_id, status="running", cancel_requested=True, lease_until=utcnow() - timedelta(seconds=1))
    run = FakeExecute()
    assert Worker(store, "w", run_task=run).run_once() == task_id
    assert run.calls == [] and store.task(task_id).status == "cancelled"


def test_stopping_a_worker_queues_its_task_again(store, tmp_path):
    task_id = queue(store, tmp_path, budget=8)
    w = Worker(store, "w1", lease_seconds=5, run_task=FakeExecute(seconds=30))
    t = threading.Thread(target=w.serve_forever)
    t.start()
    wait_for(lambda: store.experiments(task_id))
    w.stop()
    t.join(15)
    assert not t.is_alive()
    row = store.task(task_id)
    assert row.status == "queued" and row.worker is None and not row.cancel_requested
    assert store.events(task_id)[-1].kind == "task_queued"


def test_two_workers_never_run_the_same_task(any_store, tmp_path):  # on SQLite and PostgreSQL
    store = any_store
    ids = [queue(store, tmp_path, f"t{i}", budget=1) for i in range(6)]
    run = FakeExecute()
    workers = [Worker(store, f"w{i}", lease_seconds=10, poll_seconds=0.05, run_task=run) for i in range(2)]
    threads = [threading.Thread(target=w.serve_forever) for w in workers]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: all(store.task(i).status == "succeeded" for i in ids), timeout=60)
    finally:
        for w in workers:
            w.stop()
        for t in threads:
            t.join(15)
    assert sorted(run.calls) == ids


def test_not_runnable_task_fails_with_the_reason(store, tmp_path):
    task_id = queue(store, tmp_path)
    store.update_task(task_id, spec={**store.task(task_id).spec, "engine": "nope"})
    Worker(store, "w", run_task=FakeExecute()).run_once()
    row = store.task(task_id)
    assert row.status == "failed" and "engine" in row.error


def test_embedded_worker_runs_api_tasks_and_cancel_stops_at_once(store, tmp_path):
    run = FakeExecute(seconds=30)
    app = create_app(store, workers=1, out_dir=tmp_path, poll_seconds=0.05, run_task=run)
    with TestClient(app) as c:
        task_id = c.post("/api/tasks", json=task_doc(budget=5)).json()["id"]
        wait_for(lambda: c.get(f"/api/tasks/{task_id}").json()["current"])
        asked = time.monotonic()
        r = c.post(f"/api/tasks/{task_id}/cancel")
        assert r.status_code == 202
        wait_for(lambda: c.get(f"/api/tasks/{task_id}").json()["status"] == "cancelled", timeout=10)
        assert time.monotonic() - asked < 3  # the event, not the one-second database poll
        r = c.post(f"/api/tasks/{task_id}/resume")
        assert r.status_code == 200
        wait_for(lambda: c.get(f"/api/tasks/{task_id}").json()["status"] == "running")
    # Leaving the app (server shutdown) interrupts the task and queues it for the next worker.
    assert store.task(task_id).status == "queued"
    assert run.calls == [task_id, task_id]


@pytest.mark.parametrize("where", ["in the loop", "setting up the tuner"])
def test_a_task_whose_run_raises_ends_failed_with_its_message_and_is_not_retried(store, tmp_path, monkeypatch,
                                                                                 where):
    from autotuner.service import session
    from autotuner.service.session import execute

    if where == "setting up the tuner":
        def explode(*args, **kwargs):
            raise ValueError("engine adapter exploded")
        monkeypatch.setattr(session, "Tuner", explode)

    class Broken:
        def run(self, *args, **kwargs):
            raise RuntimeError("engine adapter exploded")

        def reap(self, *args, **kwargs):
            return []

        def log_path(self, name):
            return None

    def run_task(store_, task, task_id, options, on_event, cancel):
        return execute(store_, task, task_id, options, on_event, cancel, runner=Broken())

    task_id = queue(store, tmp_path)
    w = Worker(store, "w1", lease_seconds=5, run_task=run_task)
    assert w.run_once() == task_id
    row = store.task(task_id)
    assert row.status == "failed" and "engine adapter exploded" in row.error
    assert w.run_once() is None  # a poisoned task is not claimed again
    client = TestClient(create_app(store, workers=0))
    assert "engine adapter exploded" in client.get(f"/api/tasks/{task_id}").json()["error"]
