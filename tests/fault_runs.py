"""Drive a real ``autotuner run`` against the fault engine and read back what it recorded.

Shared by ``tests/test_faults.py`` and ``benchmarks/fault_matrix.py``: one task of one experiment
(no baseline) on ``engine: llamacpp`` whose ``llama-server`` is ``tests/fault_engine.py`` with a fault.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .fault_engine import dummy_gguf, write_wrapper

ROOT = Path(__file__).resolve().parent.parent

# What each fault must be recorded as: (status, reason). ``never_ready`` fails to start (timeout).
EXPECTED = {
    "healthy": ("succeeded", None),
    "crash": ("failed", "engine_died"),
    "hang": ("failed", "deadline"),
    "errors": ("failed", "errors"),
    "stall": ("failed", "errors"),
    "malformed": ("failed", "errors"),
    "never_ready": ("failed", "timeout"),
    "ignore_sigterm": ("failed", "deadline"),
}

TASK = """\
name: fault-{mode}
model: {{id: {model}, served_name: m}}
engine: llamacpp
gpus: 1
search: {{strategy: grid, max_experiments: 1, baseline: false, space: {{parallel: [2]}}}}
objective: {{maximize: output_throughput}}
workload: {{scenarios: ["D(8,8)"], concurrency: [2, 4], num_requests: 12, warmup_requests: 0}}
timeouts: {{startup: {startup}, experiment: {experiment}, stall: {stall}}}
"""


@dataclass
class FaultRun:
    mode: str
    status: str
    reason: str | None
    error: str
    wall: float  # seconds the whole `autotuner run` took
    experiment_wall: float  # seconds from the experiment's start to its end, as recorded
    deadline: float  # timeouts.experiment
    ranked: bool  # did the faulty experiment become the best?
    leftovers: list[int]  # fault-engine processes still alive after the run
    exit_code: int
    output: str


def engine_processes(marker: str) -> list[int]:
    """Live processes whose command line mentions ``marker`` (the run's own folder), but this one."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker in cmdline and state not in ("Z", "X"):  # the engine, its launcher, anything it started
            pids.append(int(entry.name))
    return pids


def run_fault(mode: str, workdir: Path, experiment: float = 20.0, stall: float = 3.0, startup: float = 20.0,
              after: int = 4, timeout: float = 180.0) -> FaultRun:
    """``autotuner run`` of one experiment against ``mode``; what it recorded, and what it left running."""
    workdir.mkdir(parents=True, exist_ok=True)
    bin_dir = workdir / "bin"
    bin_dir.mkdir(exist_ok=True)
    server = write_wrapper(bin_dir / "llama-server", mode, after=after, fraction=0.5)
    model = dummy_gguf(workdir / "model.gguf")
    task = workdir / "task.yaml"
    task.write_text(TASK.format(mode=mode, model=model, startup=startup, experiment=experiment, stall=stall))
    env = {**os.environ, "AUTOTUNER_LLAMA_SERVER": str(server), "AUTOTUNER_STATE_DIR": str(workdir / "state"),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "autotuner", "run", str(task), "--db", str(workdir / "db.sqlite"),
                           "--out", str(workdir / "runs")], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=workdir)
    wall = time.monotonic() - t0
    time.sleep(0.5)  # the kernel's last word on the engine's group
    leftovers = engine_processes(str(workdir))
    doc = json.loads((workdir / "runs" / f"fault-{mode}" / "results.json").read_text())
    exp = doc["experiments"][0]
    error = exp.get("error") or ""
    reason = error.split(":", 1)[0] if exp["status"] == "failed" and ":" in error else None
    best = doc.get("best") or {}
    started, finished = (datetime.fromisoformat(exp[k]) for k in ("started_at", "finished_at"))
    return FaultRun(mode=mode, status=exp["status"], reason=reason, error=error, wall=wall,
                    experiment_wall=(finished - started).total_seconds(),
                    deadline=experiment, ranked=best.get("id") == exp["id"], leftovers=leftovers,
                    exit_code=proc.returncode, output=proc.stdout[-3000:] + proc.stderr[-3000:])
