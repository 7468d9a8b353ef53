"""The API's queries and the worker's row claim on PostgreSQL (skipped when no server can be had)."""

import threading

import pytest
from fastapi.testclient import TestClient

from autotuner.api.app import create_app
from autotuner.service.worker import Worker
from autotuner.service.session import RunOptions
from autotuner.spec import task_from_dict
from autotuner.store import Store

from .api_fakes import FakeExecute, task_doc, wait_for
from .pg_support import fresh_database


@pytest.fixture(scope="module")
def pg_url():
    yield from fresh_database()


@pytest.fixture
def store(pg_url):
    s = Store(pg_url)
    yield s
    with s.engine.begin() as conn:  # empty the tables for the next test (Optuna's stay: studies are per task id)
        for table in ("at_events", "at_experiments", "at_tasks"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    s.dispose()


def test_sorting_best_and_progress_on_postgres(store, tmp_path):
    with TestClient(create_app(store, workers=0, out_dir=tmp_path)) as c:
        task_id = c.post("/api/tasks", json=task_doc("pg")).json()["id"]
        for i, (mrr, thr, ttft) in enumerate([(8, 800.0, 0.9), (64, 1900.0, 0.4), (16, None, None)]):
            metrics = {} if thr is None else {"output_throughput": thr, "ttft_p90": ttft}
            store.add_experiment(task_id, {"max-running-requests": mrr, "chunked-prefill-size": 1024}, i,
                                 status="succeeded" if thr else "failed", metrics=metrics, score=thr)
        ids = lambda **p: [e["parameters"]["max-running-requests"] for e in
                           c.get(f"/api/tasks/{task_id}/experiments", params=p).json()["items"]]
        assert ids(sort="output_throughput", order="desc") == [64, 8, 16]
        assert ids(sort="ttft_p90", order="asc") == [64, 8, 16]
        assert ids(sort="params.max-running-requests", order="desc") == [64, 16, 8]
        doc = c.get(f"/api/tasks/{task_id}").json()
        assert doc["best"]["score"] == 1900.0 and doc["progress"]["finished"] == 3


def test_workers_claim_each_task_once_on_postgres(store, tmp_path):
    ids = []
    for i in range(4):
        task = task_from_dict(task_doc(f"pg{i}", budget=1))
        ids.append(store.create_task(task.name, task.model_dump(mode="json"), status="queued",
                                     options=RunOptions(out_dir=tmp_path).to_dict()).id)
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
