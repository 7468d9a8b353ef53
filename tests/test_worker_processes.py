"""End to end: ``serve --workers 0`` plus separate ``autotuner worker`` processes on one database,
on the simulated engine. Events reach the server's stream from the worker through the database."""

import json
import os
import signal
import time

import httpx
import pytest

from .api_fakes import wait_for
from .pg_support import fresh_database
from .serve_support import engine_processes, require_sim, serve, sse_events, worker

pytestmark = pytest.mark.slow


def sim_task(name: str, budget: int = 3, served: str | None = None, requests: int = 8) -> dict:
    return {
        "name": name,
        "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "served_name": served or name},
        "engine": "sglang",
        "search": {"strategy": "grid", "max_experiments": budget, "seed": 0, "baseline": False,
                   "space": {"max-running-requests": [8, 16, 32, 64], "chunked-prefill-size": [2048, 8192]}},
        "objective": {"maximize": "output_throughput"},
        "slo": {"ttft_p90": 5.0},
        "workload": {"scenarios": ["D(64,16)"], "concurrency": [2], "num_requests": requests},
        "timeouts": {"startup": 60, "experiment": 120},
        "simulate": {"gpu": "h100", "startup_seconds": 0.3},
    }


def run_task_through_worker(db: str, tmp_path, virtual_time: bool) -> None:
    with serve(db, tmp_path, workers=0) as base, worker(db, tmp_path):
        r = httpx.post(f"{base}/api/tasks", json={"task": sim_task("two-proc"), "virtual_time": virtual_time})
        assert r.status_code == 201, r.text
        task_id = r.json()["id"]
        events = sse_events(f"{base}/api/tasks/{task_id}/events")
        kinds = [e["kind"] for e in events]
        assert kinds.count("experiment_finished") == 3, kinds
        assert kinds[-1] == "task_finished" and events[-1]["status"] == "succeeded", events[-1]
        detail = httpx.get(f"{base}/api/tasks/{task_id}").json()
        assert detail["status"] == "succeeded" and detail["progress"]["finished"] == 3
        assert detail["worker"] and f":{os.getpid()}" not in detail["worker"]
        assert detail["best_detail"]["command"].startswith("python -m sglang.launch_server")
        results = httpx.get(f"{base}/api/tasks/{task_id}/results").json()
        assert results["best"]["id"] == detail["best"]["experiment"]


def test_serve_and_a_worker_process_share_a_sqlite_file(tmp_path):
    require_sim()
    run_task_through_worker(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, virtual_time=False)


@pytest.fixture
def pg_url():
    yield from fresh_database()


def test_serve_and_a_worker_process_share_postgresql(pg_url, tmp_path):
    require_sim()
    run_task_through_worker(pg_url, tmp_path, virtual_time=True)


def test_a_killed_workers_task_is_resumed_by_another(tmp_path):
    require_sim()
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with serve(db, tmp_path, workers=0) as base:
        r = httpx.post(f"{base}/api/tasks", json=sim_task("crash", budget=4, served="crash-model", requests=16))
        task_id = r.json()["id"]
        with worker(db, tmp_path, "--lease-seconds", "3") as first:
            def measuring_after_one_finished() -> bool:
                doc = httpx.get(f"{base}/api/tasks/{task_id}").json()
                return doc["progress"]["finished"] >= 1 and any(c["phase"] == "benchmarking" for c in doc["current"])

            # Killed while its engine serves (not in the instant between starting it and recording it).
            wait_for(measuring_after_one_finished, timeout=120, interval=0.1)
            os.kill(first.pid, signal.SIGKILL)  # no goodbye: its lease just stops being renewed
            first.wait(10)
        kept = {e["id"] for e in httpx.get(f"{base}/api/tasks/{task_id}/experiments").json()["items"]
                if e["status"] == "succeeded"}
        assert kept
        with worker(db, tmp_path, "--lease-seconds", "3"):
            wait_for(lambda: httpx.get(f"{base}/api/tasks/{task_id}").json()["status"] == "succeeded",
                     timeout=180, interval=0.5)
        items = httpx.get(f"{base}/api/tasks/{task_id}/experiments", params={"limit": 100}).json()["items"]
        assert kept <= {e["id"] for e in items if e["status"] == "succeeded"}  # finished work kept
        assert sum(e["status"] == "succeeded" for e in items) == 4
        time.sleep(1)
        assert engine_processes("crash-model") == []  # the dead worker's engine was reaped


@pytest.mark.parametrize("kill", ["owner", "helper"])
def test_two_worker_processes_share_one_task_on_postgresql_and_survive_a_kill(kill, pg_url, tmp_path):
    """Many tuners, one study: both workers run experiments of one task; one is killed mid-run; the
    other takes back its experiment after the lease (and the task, if it was the owner) and finishes."""
    require_sim()
    finished = ("succeeded", "failed", "infeasible", "pruned")
    with serve(pg_url, tmp_path, workers=0) as base:
        # long enough levels that both workers are seen benchmarking at once, even on a busy machine
        r = httpx.post(f"{base}/api/tasks", json=sim_task("shared", budget=6, served=f"shared-{kill}", requests=48))
        task_id = r.json()["id"]
        experiments = lambda: httpx.get(f"{base}/api/tasks/{task_id}/experiments",  # noqa: E731
                                        params={"limit": 100}).json()["items"]
        with worker(pg_url, tmp_path, "--lease-seconds", "3") as first, \
                worker(pg_url, tmp_path, "--lease-seconds", "3") as second:
            by_pid = {first.pid: first, second.pid: second}
            detail = lambda: httpx.get(f"{base}/api/tasks/{task_id}").json()  # noqa: E731

            def both_measuring() -> bool:
                current = detail()["current"]
                return (len({c["worker"] for c in current if c["phase"] == "benchmarking"}) == 2
                        and detail()["progress"]["finished"] >= 1)

            wait_for(both_measuring, timeout=120, interval=0.1)
            owner = detail()["worker"]
            helper = next(c["worker"] for c in detail()["current"] if c["worker"] != owner)
            dead = owner if kill == "owner" else helper
            lost = {c["id"] for c in detail()["current"] if c["worker"] == dead}
            assert lost
            victim = by_pid[int(dead.split(":")[1])]
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
            wait_for(lambda: detail()["status"] == "succeeded", timeout=240, interval=0.5)
            survivor = detail()["worker"]
        items = experiments()
    assert survivor == ({owner, helper} - {dead}).pop()  # the task ends with the live worker
    measured = [e for e in items if e["status"] in finished and not e["baseline"]]
    assert len(measured) == 6  # the whole budget, nothing lost
    keys = [json.dumps(e["parameters"], sort_keys=True) for e in measured]
    assert len(set(keys)) == 6  # no configuration measured twice
    assert {e["worker"] for e in measured} == {owner, helper}
    for e in items:
        if e["id"] in lost:  # the killed worker's experiment: taken back, then measured by the survivor
            assert e["status"] == "interrupted" and "lease" in e["error"]
            again = [m for m in measured if m["parameters"] == e["parameters"]]
            assert [m["worker"] for m in again] == [survivor]
    time.sleep(1)
    assert engine_processes(f"shared-{kill}") == []  # the killed worker's engine was reaped (own name: tests run in parallel)
