"""Test doubles for the API and worker tests: ``execute`` on a fake runner (no engine, no HTTP)."""

from __future__ import annotations

import threading
import time
from typing import Any

from autotuner.search.runners import Outcome
from autotuner.service.session import execute

from .fake_runner import FakeRunner

SPACE = {"max-running-requests": [8, 16, 32, 64], "chunked-prefill-size": [1024, 4096]}


def task_doc(name: str = "t1", budget: int = 3, **extra: Any) -> dict[str, Any]:
    doc = {
        "name": name, "model": "m", "engine": "sglang",
        "search": {"strategy": "grid", "max_experiments": budget, "seed": 1, "baseline": False, "space": SPACE},
        "objective": {"maximize": "output_throughput"},
        "slo": {"ttft_p90": 5.0},
        "workload": {"concurrency": [4]},
        "simulate": {"gpu": "h100"},
    }
    doc.update(extra)
    return doc


def model(params: dict, c: int) -> dict:
    mrr, chunk = params.get("max-running-requests", 32), params.get("chunked-prefill-size", 2048)
    return {"output_throughput": min(mrr, c) * 100.0 + chunk / 1024, "ttft_p90": 0.1 + 1.0 / mrr,
            "tpot_p90": 0.01 + mrr / 10000}


class SlowRunner(FakeRunner):
    """Takes ``seconds`` per experiment, like an engine, and stops early when cancelled."""

    def __init__(self, seconds: float, **kw):
        super().__init__(model, concurrency=(4,), **kw)
        self.seconds = seconds

    def run(self, params, gpus, name, on_phase, on_level, cancel) -> Outcome:
        on_phase("deploying")
        if cancel.wait(self.seconds):
            return Outcome(False, error="cancelled", reason="cancelled")
        return super().run(params, gpus, name, on_phase, on_level, cancel)


class FakeExecute:
    """``session.execute`` with a fake runner; records which tasks it ran."""

    def __init__(self, seconds: float = 0.0, mode: str = "alone", worker: str | None = None,
                 lease_seconds: float = 30.0):
        self.seconds, self.mode, self.worker, self.lease_seconds = seconds, mode, worker, lease_seconds
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, store, task, task_id, options, on_event, cancel) -> str:
        with self.lock:
            self.calls.append(task_id)
        return execute(store, task, task_id, options, on_event, cancel, mode=self.mode, worker=self.worker,
                       lease_seconds=self.lease_seconds, runner=SlowRunner(self.seconds))


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
