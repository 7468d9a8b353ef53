"""The Server-Sent Events stream: replay, Last-Event-ID, live delivery and its end."""

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

from autotuner.api import events as events_module
from autotuner.api.app import create_app

from .api_fakes import task_doc


@pytest.fixture
def client(store, tmp_path, monkeypatch):
    monkeypatch.setattr(events_module, "POLL_SECONDS", 0.05)
    with TestClient(create_app(store, workers=0, out_dir=tmp_path)) as c:
        yield c


def read_stream(client, url, headers=None, limit=100):
    """The messages of a stream until the server ends it."""
    out = []
    with client.stream("GET", url, headers=headers or {}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        event = {}
        for line in r.iter_lines():
            if line.startswith("id: "):
                event["id"] = int(line[4:])
            elif line.startswith("data: "):
                event["data"] = json.loads(line[6:])
            elif line == "" and event:
                out.append(event)
                event = {}
                if len(out) >= limit:
                    break
    return out


def new_task(client):
    return client.post("/api/tasks", json=task_doc()).json()["id"]


def test_finished_task_replays_then_ends_and_resumes_after_last_event_id(client, store):
    task_id = new_task(client)
    store.update_task(task_id, status="running")
    store.add_event(task_id, "experiment_started", {"experiment": 1, "params": {"x": 1}})
    store.add_event(task_id, "experiment_finished", {"experiment": 1, "status": "succeeded", "score": 2.5})
    store.update_task(task_id, status="succeeded")
    store.add_event(task_id, "task_finished", {"status": "succeeded", "error": None})
    msgs = read_stream(client, f"/api/tasks/{task_id}/events")
    kinds = [m["data"]["kind"] for m in msgs]
    assert kinds == ["task_created", "experiment_started", "experiment_finished", "task_finished"]
    assert msgs[2]["data"]["score"] == 2.5 and msgs[2]["data"]["task_id"] == task_id
    assert [m["id"] for m in msgs] == sorted(m["id"] for m in msgs)
    # A reconnecting client gets only what it missed ...
    later = read_stream(client, f"/api/tasks/{task_id}/events", {"Last-Event-ID": str(msgs[1]["id"])})
    assert [m["data"]["kind"] for m in later] == ["experiment_finished", "task_finished"]
    # ... and 204 once it has everything, which stops a browser's EventSource from retrying.
    r = client.get(f"/api/tasks/{task_id}/events", headers={"Last-Event-ID": str(msgs[-1]["id"])})
    assert r.status_code == 204
    assert client.get(f"/api/tasks/{task_id}/events", headers={"Last-Event-ID": "abc"}).status_code == 422


def test_events_arrive_live_and_the_stream_ends_with_the_task(client, store):
    task_id = new_task(client)
    store.update_task(task_id, status="running")

    def tuner_like() -> None:
        for i in range(3):
            time.sleep(0.15)
            store.add_event(task_id, "experiment_phase", {"experiment": i, "phase": "benchmarking"})
        store.update_task(task_id, status="cancelled")
        store.add_event(task_id, "task_finished", {"status": "cancelled", "error": None})

    writer = threading.Thread(target=tuner_like)
    started = time.monotonic()
    writer.start()
    msgs = read_stream(client, f"/api/tasks/{task_id}/events")
    writer.join()
    assert [m["data"]["kind"] for m in msgs] == ["task_created"] + ["experiment_phase"] * 3 + ["task_finished"]
    assert time.monotonic() - started < 10


def test_a_resumed_task_streams_past_its_earlier_finish(client, store):
    task_id = new_task(client)
    store.add_event(task_id, "task_finished", {"status": "cancelled", "error": None})  # an earlier run
    store.update_task(task_id, status="running")  # resumed, running again

    def finish() -> None:
        time.sleep(0.3)
        store.add_event(task_id, "best_changed", {"experiment": 5, "score": 1.0})
        store.update_task(task_id, status="succeeded")
        store.add_event(task_id, "task_finished", {"status": "succeeded", "error": None})

    threading.Thread(target=finish).start()
    kinds = [m["data"]["kind"] for m in read_stream(client, f"/api/tasks/{task_id}/events")]
    assert kinds == ["task_created", "task_finished", "best_changed", "task_finished"]


def test_deleted_task_ends_its_stream(client, store):
    task_id = new_task(client)
    store.update_task(task_id, status="running")
    threading.Timer(0.3, lambda: store.delete_task(task_id)).start()
    assert [m["data"]["kind"] for m in read_stream(client, f"/api/tasks/{task_id}/events")] == ["task_created"]
