#!/usr/bin/env python
"""What an experiment costs beyond its benchmark, and how soon a ready engine is noticed.

    .venv/bin/python benchmarks/experiment_overhead.py [--experiments 5] [--startup-seconds 2]

Runs experiments the way ``autotuner run --simulate`` does (``DeployedRunner`` + ``LocalDeployer``:
a real engine process of the simulated engine, HTTP, our load generator), with a known engine
start-up (``--startup-seconds``: the simulated engine answers /health 503 until then). A side thread
finds each engine's port in its log and polls /health every 2 ms: the first 200 it sees is when
the engine became ready, the reference for the deployer's detection. Printed per experiment:

- ready lag: the deployer's detection after the engine became ready (goal: < 0.5 s);
- spawn: process start to readiness, minus the engine's own start-up (imports, bind);
- benchmark: the levels' measured windows; client: the rest of the benchmark phase (session,
  warm-up, between levels); teardown: stopping the engine;
- overhead: everything but the engine's start-up and the measured windows.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from autotuner.deploy.local import LocalDeployer
from autotuner.engines import get_adapter
from autotuner.search.runners import DeployedRunner
from autotuner.spec import task_from_dict

_PORT = re.compile(r"http://127\.0\.0\.1:(\d+)")


class ReadyWatch(threading.Thread):
    """Polls the newest engine log for its port, then /health every 2 ms; ``ready_at`` is the first 200."""

    def __init__(self, log_dir: Path, known: set[Path]):
        super().__init__(daemon=True)
        self.log_dir, self.known = log_dir, known
        self.ready_at: float | None = None
        self.done = threading.Event()

    def run(self) -> None:
        port = None
        while port is None and not self.done.is_set():
            for log in set(self.log_dir.glob("*.log")) - self.known:
                match = _PORT.search(log.read_text(errors="replace"))
                if match:
                    port = int(match.group(1))
            time.sleep(0.002)
        while port is not None and not self.done.is_set():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5) as r:
                    if r.status == 200:
                        self.ready_at = time.monotonic()
                        return
            except OSError:
                pass
            time.sleep(0.002)


def one_experiment(runner: DeployedRunner, log_dir: Path, index: int) -> dict:
    phases: dict[str, float] = {}
    windows: list[float] = []
    watch = ReadyWatch(log_dir, set(log_dir.glob("*.log")))
    watch.start()
    t0 = time.monotonic()
    outcome = runner.run({"max-running-requests": 16 + index}, [0], f"overhead-{index}",
                         lambda phase: phases.setdefault(phase, time.monotonic()),
                         lambda level: windows.append(level.metrics["duration"]) or True, threading.Event())
    end = time.monotonic()
    watch.done.set()
    if not outcome.ok:
        raise RuntimeError(f"experiment {index} failed: {outcome.error}")
    ready, bench_at, down_at = watch.ready_at, phases["benchmarking"], phases["tearing down"]
    return {"total": end - t0, "ready_lag": (bench_at - ready) if ready else float("nan"),
            "spawn": ((ready or bench_at) - t0) - runner.simulate["startup_seconds"],
            "benchmark": sum(windows), "client": (down_at - bench_at) - sum(windows), "teardown": end - down_at,
            "overhead": (end - t0) - runner.simulate["startup_seconds"] - sum(windows)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--experiments", type=int, default=5)
    p.add_argument("--startup-seconds", type=float, default=2.0)
    p.add_argument("--requests", type=int, default=40)
    args = p.parse_args()
    task = task_from_dict({"name": "overhead", "model": "meta-llama/Llama-3.1-8B-Instruct", "engine": "sglang",
                           "search": {"space": {"max-running-requests": [16, 32]}},
                           "objective": {"maximize": "output_throughput"},
                           "workload": {"scenarios": ["D(128,32)"], "concurrency": [4, 16],
                                        "num_requests": args.requests}})
    work = Path(tempfile.mkdtemp(prefix="experiment-overhead-"))
    deployer = LocalDeployer(log_dir=work / "logs", state_dir=work / "state")
    simulate = {"gpu": "h100", "seed": 0, "startup_seconds": args.startup_seconds, "noise": 0.0, "virtual_time": False}
    runner = DeployedRunner(task, get_adapter("sglang"), deployer, simulate)
    rows = [one_experiment(runner, work / "logs", i) for i in range(args.experiments)]
    cols = ("total", "ready_lag", "spawn", "benchmark", "client", "teardown", "overhead")
    print(f"simulated engine start-up {args.startup_seconds:g} s, 2 levels x {args.requests} requests; seconds:")
    print(" ".join(f"{c:>10}" for c in ("experiment",) + cols))
    for i, r in enumerate(rows, start=1):
        print(" ".join([f"{i:>10}"] + [f"{r[c]:>10.3f}" for c in cols]))
    print(" ".join([f"{'median':>10}"] + [f"{statistics.median(r[c] for r in rows):>10.3f}" for c in cols]))
    worst_lag = max(r["ready_lag"] for r in rows)
    print(f"readiness detected within {worst_lag:.3f} s of the engine being ready (goal < 0.5 s): {worst_lag < 0.5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
