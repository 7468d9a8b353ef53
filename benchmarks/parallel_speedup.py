"""Wall time of one tuning task with 1, 2 and 4 experiment slots on the simulated engine (real time).

Each slot runs its own simulated engine on a disjoint GPU set; the speed-up is wall(1) / wall(N).
Run: ``python benchmarks/parallel_speedup.py [--slots 1,2,4]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from autotuner.service.session import RunOptions, execute, prepare_task
from autotuner.spec import task_from_dict
from autotuner.store import Store


def task(slots: int) -> dict:
    return {
        "name": f"parallel-{slots}", "model": "meta-llama/Llama-3.2-1B-Instruct", "engine": "sglang",
        "gpus": 4,
        "search": {"strategy": "grid", "max_experiments": 8, "seed": 0, "parallel": slots, "baseline": False,
                   "prune": False,
                   "space": {"max-running-requests": [8, 16, 32, 64], "schedule-policy": ["lpm", "fcfs"]}},
        "objective": {"maximize": "output_throughput"},
        "workload": {"scenarios": ["D(256,256)"], "concurrency": [8], "num_requests": 24},
        "simulate": {"gpu": "a100", "startup_seconds": 2.0},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slots", default="1,2,4")
    args = ap.parse_args()
    walls = {}
    for slots in [int(s) for s in args.slots.split(",")]:
        tmp = Path(tempfile.mkdtemp(prefix="autotuner-par-"))
        store = Store(f"sqlite:///{tmp / 'db.sqlite'}")
        t = task_from_dict(task(slots))
        options = RunOptions(simulate_gpu="a100", out_dir=tmp / "runs", state_dir=tmp / "state")
        task_id = prepare_task(store, t, options)
        t0 = time.monotonic()
        status = execute(store, t, task_id, options)
        walls[slots] = time.monotonic() - t0
        print(f"{slots} slot(s): {walls[slots]:.1f} s ({status}, "
              f"{store.count_experiments(task_id, ['succeeded'])} experiments succeeded)")
    base = walls.get(1)
    if base:
        for slots, wall in walls.items():
            print(f"speed-up with {slots}: {base / wall:.2f}x (target >= {0.8 * slots:.1f}x)")


if __name__ == "__main__":
    main()
