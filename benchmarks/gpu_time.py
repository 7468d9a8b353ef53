#!/usr/bin/env python
"""GPU-seconds a tuning run spends to reach 98% of the exhaustive optimum, split by what they paid for.

    .venv/bin/python benchmarks/gpu_time.py [--seeds 10] [--main-src /path/to/main/src]

The three setups of ``search_efficiency.py`` in virtual time on the simulated engine. Each setup's
whole space is measured once (the truth); every strategy then runs the real tuning loop (``Tuner``,
default settings: TPE with early stopping, no baseline) against a replay of it, and stops once a
complete, feasible experiment scores >= 98% of the optimum. Every experiment pays an engine start-up
from the model-size table (``--startup-seconds`` overrides it) plus the benchmark time of the levels
it ran, on its GPUs; the rest of the 8-GPU node is idle meanwhile (experiments run one at a time).

Strategies: ``default`` (this tree's defaults: levels lowest load first, early stopping),
``informative`` (``search.level_order: informative``: highest load first with the rules of
``search/early_stop.py``), ``no-stop`` (``search.prune`` off), and ``main`` (the same harness run on another source tree, ``--main-src``: today's main).
Printed per setup and strategy: median and worst GPU-seconds to the target over the seeds, the
median split start-up / benchmark / idle, and in how many seeds the target was reached.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pickle
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from autotuner.bench.result import LevelResult
from autotuner.deploy.gpu_pool import GpuPool
from autotuner.search.runners import Outcome
from autotuner.search.scoring import is_feasible, objective_values, select_metrics
from autotuner.service.session import RunOptions, prepare_task
from autotuner.search.tuner import TaskCancelled, Tuner
from autotuner.spec import task_from_dict
from autotuner.store import Store, params_key

from search_efficiency import SETUPS, measure_truth

NODE_GPUS = 8
LEVEL_FIELDS = {f.name for f in dataclasses.fields(LevelResult)}  # main's LevelResult has fewer
# Engine start-up (weights load, CUDA graphs) by model size, in seconds.
STARTUP_BY_SIZE = ((1, 20.0), (8, 40.0), (70, 180.0))


def startup_seconds(model: str) -> float:
    """The table's value for the nearest size at or above the model's (70B beyond the table)."""
    match = re.search(r"(\d+(?:\.\d+)?)[bB]\b", model)
    size = float(match.group(1)) if match else 8.0
    return next((s for b, s in STARTUP_BY_SIZE if size <= b), STARTUP_BY_SIZE[-1][1])


def level_order(task) -> list:
    try:  # this tree: the multi-fidelity order; today's main has none (lowest load first)
        from autotuner.search.fidelity import workload_for
    except ImportError:
        return task.workload.levels()
    return workload_for(task).levels()


@dataclass
class Spend:
    startup: float = 0.0
    benchmark: float = 0.0
    idle: float = 0.0
    experiments: int = 0
    at_target: dict | None = None
    best: float = -math.inf
    log: list = field(default_factory=list)

    def total(self) -> float:
        return self.startup + self.benchmark + self.idle


class GpuTimeRunner:
    """Replays measured levels in the order the task runs them and charges their GPU time."""

    def __init__(self, truth: dict[str, Outcome], task, target: float, startup: float):
        self.truth, self.task, self.target, self.startup = truth, task, target, startup
        self.order = level_order(task)
        self.spend = Spend()

    def _charge(self, gpus: int, startup: float, bench: float) -> None:
        s = self.spend
        s.startup += gpus * startup
        s.benchmark += gpus * bench
        s.idle += (NODE_GPUS - gpus) * (startup + bench)
        s.experiments += 1

    def run(self, params, gpus, name, on_phase, on_level, cancel) -> Outcome:
        measured = self.truth[params_key(params)]
        if not measured.ok:
            self._charge(len(gpus), self.startup, 0.0)
            return measured
        by_key = {(lv["scenario"], lv["concurrency"], lv["rate"]): lv for lv in measured.levels}
        levels, bench, stopped = [], 0.0, False
        for key in self.order:
            lv = by_key[key]
            levels.append(lv)
            bench += lv["metrics"].get("duration", 0.0)
            if not on_level(LevelResult(**{k: v for k, v in lv.items() if k in LEVEL_FIELDS})):
                stopped = True
                break
        self._charge(len(gpus), self.startup, bench)
        metrics = select_metrics(self.task, levels)
        if is_feasible(self.task, metrics):
            score = objective_values(self.task, metrics)[0]
            self.spend.best = max(self.spend.best, score)
            if score >= self.target and self.spend.at_target is None:
                self.spend.at_target = {"startup": self.spend.startup, "benchmark": self.spend.benchmark,
                                        "idle": self.spend.idle, "experiments": self.spend.experiments,
                                        "score": score, "params": params}
                cancel.set()
        return Outcome(True, levels, stopped_early=stopped, timings=measured.timings)


def run_strategy(setup, truth, optimum: float, seed: int, strategy: str) -> Spend:
    doc = setup.task("bayesian", seed, len(truth), prune=strategy != "no-stop")
    if strategy == "informative":  # this tree's opt-in: levels highest load first, with their rules
        doc["search"]["level_order"] = "informative"
    task = task_from_dict(doc)
    store = Store("sqlite://")
    task_id = prepare_task(store, task, RunOptions())
    runner = GpuTimeRunner(truth, task, 0.98 * optimum, startup_seconds(setup.model))
    try:
        Tuner(task, store, task_id, runner, GpuPool(list(range(NODE_GPUS)))).run()
    except TaskCancelled:
        pass
    return runner.spend


def truths(cache: Path) -> dict[str, tuple[dict[str, Outcome], float]]:
    """Each setup's measured space, kept in ``cache``: every strategy (and tree) replays the same one."""
    if cache.is_file():
        return pickle.loads(cache.read_bytes())
    out = {}
    for setup in SETUPS:
        t0 = time.time()
        out[setup.name] = measure_truth(setup)
        print(f"{setup.name}: measured in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    cache.write_bytes(pickle.dumps(out))
    return out


def measure(strategies: list[str], seeds: int, startup_override: float | None, cache: Path) -> list[dict]:
    if startup_override is not None:
        global startup_seconds
        startup_seconds = lambda _model: startup_override  # noqa: E731
    rows = []
    measured = truths(cache)
    for setup in SETUPS:
        t0 = time.time()
        truth, optimum = measured[setup.name]
        for strategy in strategies:
            spends = [run_strategy(setup, truth, optimum, seed, strategy) for seed in range(seeds)]
            print(f"{setup.name} {strategy}: {seeds} seeds in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
            rows.append({"setup": setup.name, "strategy": strategy, "optimum": optimum,
                         "runs": [s.at_target for s in spends], "best": [s.best for s in spends]})
    return rows


def summarize(rows: list[dict]) -> None:
    head = (f"{'setup':30} {'strategy':9} {'median GPU-s':>12} {'worst':>9} {'start-up':>9} {'benchmark':>9} "
            f"{'idle':>9} {'exps':>5} {'reached':>7}")
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        done = [x for x in r["runs"] if x is not None]
        if not done:
            print(f"{r['setup']:30} {r['strategy']:9} {'never reached':>12}")
            continue
        totals = [x["startup"] + x["benchmark"] + x["idle"] for x in done]
        med = {k: statistics.median(x[k] for x in done) for k in ("startup", "benchmark", "idle", "experiments")}
        print(f"{r['setup']:30} {r['strategy']:9} {statistics.median(totals):12.0f} {max(totals):9.0f} "
              f"{med['startup']:9.0f} {med['benchmark']:9.0f} {med['idle']:9.0f} {med['experiments']:5.0f} "
              f"{len(done):>3}/{len(r['runs'])}")
    by = {(r["setup"], r["strategy"]): r for r in rows}
    print()
    for setup in dict.fromkeys(r["setup"] for r in rows):
        base, off = by.get((setup, "main")), by.get((setup, "no-stop"))
        for strategy in ("default", "informative", "no-stop"):
            mine = by.get((setup, strategy))
            if mine is None or None in mine["runs"]:
                continue
            parts = []
            if base is not None and None not in base["runs"] and strategy != "no-stop":
                m = statistics.median(_total(x) for x in mine["runs"])
                b = statistics.median(_total(x) for x in base["runs"])
                parts.append(f"{100 * (1 - m / b):5.1f}% fewer GPU-seconds than main (median)")
            if off is not None and None not in off["runs"] and strategy != "no-stop":
                # Early stopping alone: benchmark GPU-seconds per experiment, against no early stopping.
                per = statistics.median(x["benchmark"] / x["experiments"] for x in mine["runs"])
                per_off = statistics.median(x["benchmark"] / x["experiments"] for x in off["runs"])
                parts.append(f"early stopping saves {100 * (1 - per / per_off):5.1f}% of benchmark GPU-s per experiment")
            ratio = min(x["score"] for x in mine["runs"]) / mine["optimum"]
            parts.append(f"worst seed's pick at {100 * ratio:.1f}% of the optimum")
            print(f"{setup:30} {strategy:10} " + "; ".join(parts))


def _total(x: dict) -> float:
    return x["startup"] + x["benchmark"] + x["idle"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--strategies", default="default,informative,no-stop")
    p.add_argument("--main-src", type=Path, help="src/ of today's main, for the 'main' rows")
    p.add_argument("--startup-seconds", type=float, help="one start-up time for every model")
    p.add_argument("--json", type=Path, help="write the rows here instead of printing the table")
    p.add_argument("--table", type=Path, nargs="+", help="print the table of rows saved with --json, and exit")
    p.add_argument("--truth-cache", type=Path, default=Path("/tmp/gpu_time_truth.pkl"),
                   help="the measured spaces (made when absent; delete it after changing the simulator)")
    args = p.parse_args()
    if args.table:
        summarize([row for path in args.table for row in json.loads(path.read_text())])
        return 0
    truths(args.truth_cache)  # measured once, before both trees replay it
    main_run = None
    if args.main_src is not None:  # alongside, in its own interpreter on the other source tree
        out = Path(f"/tmp/gpu_time_main_{os.getpid()}.json")
        cmd = [sys.executable, __file__, "--seeds", str(args.seeds), "--strategies", "main", "--json", str(out),
               "--truth-cache", str(args.truth_cache)]
        if args.startup_seconds is not None:
            cmd += ["--startup-seconds", str(args.startup_seconds)]
        main_run = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(args.main_src)},
                                    cwd=Path(__file__).parent)
    rows = measure(args.strategies.split(","), args.seeds, args.startup_seconds, args.truth_cache)
    if main_run is not None:
        if main_run.wait() != 0:
            raise SystemExit(f"the main run failed (exit {main_run.returncode})")
        rows += json.loads(out.read_text())
    if args.json is not None:
        args.json.write_text(json.dumps(rows, default=str))
        return 0
    summarize(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
