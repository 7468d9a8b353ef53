"""The REST API against the store directly (no worker runs tasks here)."""

import json
import math

import pytest
import yaml
from fastapi.testclient import TestClient

from autotuner.api.app import create_app
from autotuner.api.auth import check_bind
from autotuner.report.results import build_results
from autotuner.spec import SpecError, task_from_dict

from .api_fakes import task_doc


@pytest.fixture
def client(store, tmp_path):
    with TestClient(create_app(store, workers=0, out_dir=tmp_path / "runs")) as c:
        yield c


def create(client, doc=None, **params):
    r = client.post("/api/tasks", json=doc or task_doc(), params=params)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_create_from_json_yaml_text_upload_and_wrapper(client, store):
    r = client.post("/api/tasks", json=task_doc("a"))
    assert r.status_code == 201 and r.json()["status"] == "queued"
    r = client.post("/api/tasks", content=yaml.safe_dump(task_doc("b")), headers={"content-type": "application/yaml"})
    assert r.status_code == 201
    r = client.post("/api/tasks", files={"file": ("c.yaml", yaml.safe_dump(task_doc("c")), "application/yaml")},
                    data={"start": "false", "simulate": "a100"})
    assert r.status_code == 201 and r.json()["status"] == "pending"
    r = client.post("/api/tasks", json={"task": yaml.safe_dump(task_doc("d")), "virtual_time": True, "start": False})
    assert r.status_code == 201 and r.json()["status"] == "pending"
    by_name = {t.name: t for t in store.tasks()}
    assert set(by_name) == {"a", "b", "c", "d"}
    assert by_name["c"].options["simulate_gpu"] == "a100"
    assert by_name["d"].options["virtual_time"] is True
    assert by_name["b"].spec == task_from_dict(task_doc("b")).model_dump(mode="json")


def test_query_start_false_saves_only_and_start_queues(client):
    task_id = create(client, start="false")
    assert client.get(f"/api/tasks/{task_id}").json()["status"] == "pending"
    r = client.post(f"/api/tasks/{task_id}/start")
    assert r.status_code == 200 and r.json()["status"] == "queued"
    assert client.post(f"/api/tasks/{task_id}/start").status_code == 409


def test_invalid_task_gets_the_cli_field_paths(client):
    doc = task_doc()
    doc["search"]["max_experiments"] = 0
    doc["workload"] = {"concurrency": [4], "scenarios": ["X(1)"]}
    doc["bogus"] = 1
    r = client.post("/api/tasks", json=doc)
    assert r.status_code == 422
    detail = r.json()["detail"]
    with pytest.raises(SpecError) as err:
        task_from_dict(doc)
    assert [f"{d['loc']}: {d['msg']}" for d in detail] == err.value.problems
    locs = {d["loc"] for d in detail}
    assert {"search.max_experiments", "bogus"} <= locs


def test_bad_requests_are_4xx_not_5xx(client):
    assert client.post("/api/tasks", content="name: [x", headers={"content-type": "text/plain"}).status_code == 422
    assert client.post("/api/tasks", content="", headers={"content-type": "application/json"}).status_code == 422
    assert client.post("/api/tasks", content="{nope", headers={"content-type": "application/json"}).status_code == 422
    assert client.post("/api/tasks", json=[1, 2]).status_code == 422
    assert client.post("/api/tasks", content=b"\xff\xfe", headers={"content-type": "text/plain"}).status_code == 422
    assert client.post("/api/tasks", content="x", headers={"content-type": "image/png"}).status_code == 415
    r = client.post("/api/tasks", json={"task": task_doc(), "simulate": "tpu"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == "simulate"
    assert "h100" in r.json()["detail"][0]["msg"]
    r = client.post("/api/tasks", json={"task": task_doc(), "colour": "red"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == "colour"
    r = client.get("/api/tasks", params={"limit": "lots"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == "query.limit"


def test_duplicate_name_conflicts(client):
    create(client)
    r = client.post("/api/tasks", json=task_doc())
    assert r.status_code == 409 and "already exists" in r.json()["detail"]


def test_unknown_ids_are_404(client):
    for path in ("/api/tasks/999", "/api/tasks/999/experiments", "/api/tasks/999/results", "/api/tasks/999/export",
                 "/api/tasks/999/events", "/api/experiments/999", f"/api/tasks/{2**70}", f"/api/experiments/{2**70}",
                 "/api/tasks/0", "/api/tasks/-3"):
        assert client.get(path).status_code == 404, path
    for verb in ("start", "resume", "cancel"):
        assert client.post(f"/api/tasks/999/{verb}").status_code == 404
    assert client.delete("/api/tasks/999").status_code == 404


def test_cancel_resume_delete_lifecycle(client, store):
    task_id = create(client)
    r = client.post(f"/api/tasks/{task_id}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert [e.kind for e in store.events(task_id)][-1] == "task_finished"
    assert client.post(f"/api/tasks/{task_id}/cancel").status_code == 409
    r = client.post(f"/api/tasks/{task_id}/resume")
    assert r.status_code == 200 and store.task(task_id).status == "queued"
    assert store.task(task_id).cancel_requested is False
    # A running task (claimed by some worker) is only flagged, and cannot be deleted.
    assert store.claim_task("elsewhere", 60).id == task_id
    r = client.post(f"/api/tasks/{task_id}/cancel")
    assert r.status_code == 202 and store.task(task_id).cancel_requested and store.task(task_id).status == "running"
    assert client.delete(f"/api/tasks/{task_id}").status_code == 409
    store.update_task(task_id, status="cancelled")
    assert client.delete(f"/api/tasks/{task_id}").status_code == 204
    assert store.task(task_id) is None and client.get(f"/api/tasks/{task_id}").status_code == 404


def test_succeeded_task_cannot_be_resumed(client, store):
    task_id = create(client)
    store.update_task(task_id, status="succeeded")
    r = client.post(f"/api/tasks/{task_id}/resume")
    assert r.status_code == 409 and "budget" in r.json()["detail"]


def add_experiments(store, task_id):
    rows = [({"max-running-requests": 8, "chunked-prefill-size": 1024}, "succeeded", 800.0, 0.9),
            ({"max-running-requests": 64, "chunked-prefill-size": 4096}, "succeeded", 1900.0, 0.4),
            ({"max-running-requests": 16, "chunked-prefill-size": 4096}, "infeasible", 2500.0, 7.0),
            ({"max-running-requests": 32, "chunked-prefill-size": 1024}, "failed", None, None)]
    ids = []
    for i, (params, status, thr, ttft) in enumerate(rows):
        metrics = {} if thr is None else {"output_throughput": thr, "ttft_p90": ttft, "tpot_p90": math.nan}
        exp = store.add_experiment(task_id, params, i, status=status, metrics=metrics, score=thr,
                                   scores=[thr] if thr else [], levels=[{"scenario": "D(1,1)", "concurrency": 4,
                                                                        "rate": None, "metrics": metrics, "errors": []}])
        ids.append(exp.id)
    return ids


def test_task_detail_progress_best_and_current(client, store):
    task_id = create(client)
    ids = add_experiments(store, task_id)
    running = store.add_experiment(task_id, {"max-running-requests": 16, "chunked-prefill-size": 1024}, 9,
                                   status="running", phase="benchmarking")
    doc = client.get(f"/api/tasks/{task_id}").json()
    assert doc["progress"] == {"finished": 4, "budget": 3, "fraction": 1.0}
    assert doc["best"]["experiment"] == ids[1]  # the infeasible one scores higher but does not count
    assert doc["best_detail"]["command"].startswith("python -m sglang.launch_server") or \
        "--max-running-requests 64" in doc["best_detail"]["command"]
    assert doc["current"] == [{"id": running.id, "n": len(ids) + 1, "phase": "benchmarking", "baseline": False,
                               "parameters": running.params, "started_at": None, "worker": None}]
    assert doc["counts"] == {"succeeded": 2, "infeasible": 1, "failed": 1, "running": 1}
    assert doc["parameters"] == ["max-running-requests", "chunked-prefill-size"]
    listed = client.get("/api/tasks").json()["items"][0]
    assert listed["best"]["score"] == 1900.0 and listed["progress"]["finished"] == 4


def test_experiments_are_paged_and_sorted(client, store):
    task_id = create(client)
    ids = add_experiments(store, task_id)
    page = client.get(f"/api/tasks/{task_id}/experiments", params={"limit": 2}).json()
    assert page["total"] == 4 and [e["id"] for e in page["items"]] == ids[:2]
    page = client.get(f"/api/tasks/{task_id}/experiments", params={"offset": 2, "limit": 2}).json()
    assert [e["id"] for e in page["items"]] == ids[2:]
    by = lambda **p: [e["id"] for e in client.get(f"/api/tasks/{task_id}/experiments", params=p).json()["items"]]
    assert by(sort="output_throughput", order="desc") == [ids[2], ids[1], ids[0], ids[3]]  # missing metric last
    assert by(sort="ttft_p90", order="asc") == [ids[1], ids[0], ids[2], ids[3]]
    assert by(sort="params.max-running-requests") == [ids[0], ids[2], ids[3], ids[1]]  # numeric, not text order
    assert by(sort="status", order="desc")[0] == ids[0]
    assert by(status="failed") == [ids[3]]
    item = client.get(f"/api/tasks/{task_id}/experiments").json()["items"][0]
    assert item["metrics"]["tpot_p90"] is None  # NaN is not JSON
    r = client.get(f"/api/tasks/{task_id}/experiments", params={"sort": "nope"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == "query.sort"


def test_experiment_detail_with_levels_and_log_tail(client, store, tmp_path):
    task_id = create(client)
    exp_id = add_experiments(store, task_id)[0]
    log = tmp_path / "runs" / "t1" / "logs" / f"t1-exp{exp_id}.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"line {i}\n" for i in range(500)))
    store.update_experiment(exp_id, log_path=str(log))  # what the deployer reports when it starts
    doc = client.get(f"/api/experiments/{exp_id}", params={"log_lines": 3}).json()
    assert doc["task_id"] == task_id and doc["levels"][0]["concurrency"] == 4
    assert doc["log_tail"] == "line 497\nline 498\nline 499"


def test_results_and_export(client, store):
    task_id = create(client)
    add_experiments(store, task_id)
    results = client.get(f"/api/tasks/{task_id}/results").json()
    assert results == json.loads(json.dumps(build_results(store, task_id)))
    r = client.get(f"/api/tasks/{task_id}/export")
    assert r.headers["content-type"].startswith("application/yaml")
    assert task_from_dict(yaml.safe_load(r.text)) == task_from_dict(task_doc())


def test_validate_converts_between_yaml_and_document(client):
    r = client.post("/api/validate", json={"yaml": yaml.safe_dump(task_doc())}).json()
    assert r["valid"] and r["document"]["name"] == "t1" and r["problems"] == []
    r = client.post("/api/validate", json={"document": task_doc()}).json()
    assert r["valid"] and yaml.safe_load(r["yaml"]) == task_doc()
    bad = task_doc(engine="trt")
    r = client.post("/api/validate", json={"document": bad}).json()
    assert not r["valid"] and r["problems"][0]["loc"] == "engine"


def test_token_guards_mutations_and_cross_site_requests_are_refused(store, tmp_path):
    app = create_app(store, workers=0, token="s3cret", out_dir=tmp_path)
    with TestClient(app) as c:
        assert c.post("/api/tasks", json=task_doc()).status_code == 401
        assert c.post("/api/tasks", json=task_doc(), headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = c.post("/api/tasks", json=task_doc(), headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 201
        assert c.get("/api/tasks").status_code == 401  # reading needs the token too
        r = c.post(f"/api/tasks/{ok.json()['id']}/cancel",
                   headers={"Authorization": "Bearer s3cret", "Origin": "http://evil.example"})
        assert r.status_code == 403
    with TestClient(create_app(store, workers=0, out_dir=tmp_path)) as c:
        r = c.post("/api/tasks", json=task_doc("x"), headers={"Origin": "http://testserver"})
        assert r.status_code == 201
        assert c.post("/api/tasks", content="name: y", headers={"Origin": "null"}).status_code == 403


def test_off_loopback_needs_a_token():
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("0.0.0.0", "tok")
    with pytest.raises(ValueError, match="AUTOTUNER_TOKEN"):
        check_bind("0.0.0.0", None)


def test_pages_and_local_plotly(client):
    task_id = create(client)
    for path in ("/", "/tasks/new", f"/tasks/{task_id}", "/experiments/1"):
        r = client.get(path)
        assert r.status_code == 200 and "<main>" in r.text, path
    assert 'src="/vendor/plotly.min.js"' in client.get(f"/tasks/{task_id}").text
    r = client.get("/vendor/plotly.min.js")
    assert r.status_code == 200 and "plotly" in r.text[:2000].lower() and len(r.content) > 1_000_000
    assert client.get("/vendor/plotly.min.js", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    assert client.get("/static/task.js").status_code == 200
    assert "/api/tasks/{task_id}/events" in client.get("/openapi.json").json()["paths"]
