"""What early stopping saves: the same TPE search with and without it, at an equal budget.

For each setup of ``search_efficiency.py`` and 10 seeds, runs 30 experiments with pruning on and
off against the same measured truth (virtual time) and compares the benchmark time spent and the
best configuration found. Run: ``python benchmarks/early_stopping.py``.
"""

from __future__ import annotations

import statistics
import sys

from autotuner.deploy.gpu_pool import GpuPool
from autotuner.service.session import RunOptions, prepare_task
from autotuner.search.tuner import Tuner
from autotuner.spec import task_from_dict
from autotuner.store import Store

from search_efficiency import SETUPS, ReplayRunner, measure_truth

BUDGET = 30


def run(setup, truth, seed: int, prune: bool) -> tuple[float, float]:
    task = task_from_dict(setup.task("bayesian", seed, BUDGET, prune=prune))
    store = Store("sqlite://")
    task_id = prepare_task(store, task, RunOptions())
    runner = ReplayRunner(truth, task, target=float("inf"))  # never stop early on the target: full budget
    Tuner(task, store, task_id, runner, GpuPool(list(range(8)))).run()
    best = max((e.score for e in store.experiments(task_id) if e.status == "succeeded" and e.score), default=0.0)
    return runner.seconds, best


def main() -> None:
    print(f"{'setup':30} {'time saved':>10} {'best (prune)':>13} {'best (no prune)':>16}")
    for setup in SETUPS:
        truth, optimum = measure_truth(setup)
        saved, best_on, best_off = [], [], []
        for seed in range(10):
            t_on, b_on = run(setup, truth, seed, True)
            t_off, b_off = run(setup, truth, seed, False)
            saved.append(1 - t_on / t_off)
            best_on.append(b_on / optimum)
            best_off.append(b_off / optimum)
        print(f"{setup.name:30} {100 * statistics.median(saved):9.1f}% "
              f"{100 * statistics.median(best_on):12.1f}% {100 * statistics.median(best_off):15.1f}%")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
