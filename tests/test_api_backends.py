"""The API's sorting, best and progress queries on every database backend (PostgreSQL skips when no
server can be had; the worker's claim runs on both in test_worker.py)."""

from fastapi.testclient import TestClient

from autotuner.api.app import create_app

from .api_fakes import task_doc


def test_sorting_best_and_progress(any_store, tmp_path):
    store = any_store
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
