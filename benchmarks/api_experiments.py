"""Latency of ``GET /api/tasks/{id}/experiments`` on a task with 10,000 experiments.

Starts the API (uvicorn, loopback, no worker) on a temporary SQLite database (or ``--db URL``),
inserts the experiments, and measures a mix of pages: the first page, sorted by a metric, by a
parameter, by status, and a deep page. Prints p50/p95 per kind and overall; the target is a p95 of
at most 100 ms. Exit status 1 when the target is missed.

    .venv/bin/python benchmarks/api_experiments.py [--experiments 10000] [--requests 200] [--db URL]
"""

from __future__ import annotations

import argparse
import math
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from autotuner.api.app import create_app
from autotuner.bench.metrics import metric_names
from autotuner.spec import task_from_dict
from autotuner.store import ExperimentRow, Store, params_key

TARGET_P95_MS = 100.0
SPACE = {"max-running-requests": [16, 32, 64, 128, 256, 512], "chunked-prefill-size": [1024, 2048, 4096, 8192],
         "schedule-policy": ["lpm", "fcfs"], "mem-fraction-static": [0.7, 0.8, 0.85, 0.9]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(store: Store, count: int, seed: int = 0) -> int:
    task = task_from_dict({
        "name": "bench", "model": "m", "engine": "sglang", "simulate": {"gpu": "h100"},
        "search": {"strategy": "random", "max_experiments": count, "space": SPACE},
        "objective": {"maximize": "output_throughput"}, "slo": {"ttft_p90": 1.0},
    })
    task_id = store.create_task(task.name, task.model_dump(mode="json"), status="succeeded").id
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        params = {k: rng.choice(v) for k, v in SPACE.items()}
        metrics = {m: rng.uniform(0.01, 5000.0) for m in metric_names()}
        status = rng.choice(["succeeded"] * 6 + ["infeasible", "failed", "pruned"])
        if status == "failed":
            metrics = {}
        levels = [{"scenario": "D(1024,256)", "concurrency": c, "rate": None, "metrics": metrics, "errors": []}
                  for c in (16, 64)]
        rows.append({"task_id": task_id, "trial_number": i, "params": params, "params_key": params_key(params),
                     "baseline": False, "status": status, "metrics": metrics, "levels": levels,
                     "score": metrics.get("output_throughput"), "scores": [], "gpus": [0], "predicted": {},
                     "extra": {"timings": {"startup": 30.0, "benchmark": 60.0}}})
    with store.session() as s, s.begin():
        for start in range(0, len(rows), 1000):
            s.execute(ExperimentRow.__table__.insert(), rows[start:start + 1000])
    return task_id


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiments", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=200, help="requests per kind of page")
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: a temporary SQLite file)")
    args = ap.parse_args(argv)

    db = args.db or f"sqlite:///{Path(tempfile.mkdtemp(prefix='autotuner-bench-')) / 'bench.db'}"
    store = Store(db)
    t0 = time.perf_counter()
    task_id = fill(store, args.experiments)
    print(f"inserted {args.experiments} experiments in {time.perf_counter() - t0:.1f} s ({store.engine.dialect.name})")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store, workers=0), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    kinds = {
        "first page": {},
        "sort by metric": {"sort": "ttft_p90", "order": "desc"},
        "sort by parameter": {"sort": "params.max-running-requests"},
        "sort by status": {"sort": "status"},
        "deep page": {"offset": args.experiments - 50},
    }
    url = f"http://127.0.0.1:{port}/api/tasks/{task_id}/experiments"
    all_ms: list[float] = []
    try:
        with httpx.Client(timeout=30) as client:
            for name, params in kinds.items():
                client.get(url, params={**params, "limit": 50}).raise_for_status()  # warm-up
                ms = []
                for _ in range(args.requests):
                    start = time.perf_counter()
                    r = client.get(url, params={**params, "limit": 50})
                    ms.append((time.perf_counter() - start) * 1000)
                    r.raise_for_status()
                    assert len(r.json()["items"]) == 50
                all_ms += ms
                print(f"{name:>18}: p50 {statistics.median(ms):6.1f} ms  p95 {percentile(ms, 95):6.1f} ms")
    finally:
        server.should_exit = True
        thread.join(10)
    p95 = percentile(all_ms, 95)
    verdict = "OK" if p95 <= TARGET_P95_MS else "MISSED"
    print(f"GET /api/tasks/{{id}}/experiments with {args.experiments} experiments: "
          f"p50 {statistics.median(all_ms):.1f} ms, p95 {p95:.1f} ms (target <= {TARGET_P95_MS:.0f} ms: {verdict})")
    return 0 if p95 <= TARGET_P95_MS else 1


if __name__ == "__main__":
    sys.exit(main())
