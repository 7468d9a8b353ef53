#!/usr/bin/env python
"""GPU-seconds a tuning run spends to reach 98% of the exhaustive optimum, split by what they paid for.

    .venv/bin/python benchmarks/gpu_time.py [--seeds 10] [--main-src /path/to/main/src]

The three setups of ``search_efficiency.py`` in virtual time on the simulated engine. Each setup's
whole space is measured once (the truth); every strategy then runs the real tuning loop (``Tuner``)
against a replay of it on a virtual 8-GPU node (``virtual_node.py``: experiments hold their GPUs from
start to end, several at once when the tuner runs several), and stops once a complete, feasible
experiment scores >= 98% of the optimum. GPU-seconds: start-up and benchmark on the experiments' GPUs,
idle for the rest of the node meanwhile.

Start-ups come from ``sim/startup.py`` (weights load + compile + CUDA graphs). Today's main pays the
cold start-up every time, one experiment at a time. This tree's defaults (``default``) are those of a
real node: ``fast_start`` (random weights when the objective cannot depend on them, a compile cache
per model, hit when an earlier experiment with the same cache key finished compiling),
``search.parallel: auto`` and early stopping; with random weights the pick is then measured again with
its real weights and every level, and that confirmation is charged too (its GPUs and the idle rest).

Strategies: ``default``; ``no-stop`` (the same without early stopping: what early stopping alone
saves); ``sequential`` (one experiment at a time); ``informative`` (``search.level_order:
informative``); ``main`` (the harness on another source tree, ``--main-src``: today's main).
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
import shutil
import tempfile
import threading
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

from search_efficiency import SETUPS, ReplayRunner, measure_truth

NODE_GPUS = 8
LEVEL_FIELDS = {f.name for f in dataclasses.fields(LevelResult)}  # main's LevelResult has fewer
STRATEGIES = ("default", "no-stop", "sequential", "informative")


def cold_startups() -> dict[str, dict[int, float]]:
    """Per setup's model and GPU count: the cold start-up (real weights, no cache) of this tree's model."""
    from autotuner.sim.startup import model_startup
    return {s.model: {g: model_startup(s.model, g, False, False).total for g in (1, 2, 4, 8)} for s in SETUPS}


def level_order(task) -> list:
    try:  # this tree: the multi-fidelity order; today's main has none (lowest load first)
        from autotuner.search.fidelity import workload_for
    except ImportError:
        return task.workload.levels()
    return workload_for(task).levels()


class StartupModel:
    """What one experiment's engine start costs: cold every time (main), or this tree's fast starts."""

    def __init__(self, task, cold: dict[int, float] | None):
        self.task, self.cold = task, cold
        if cold is None:
            from autotuner.engines.launch import LaunchSpec
            from autotuner.search import fast_start
            from autotuner.sim.startup import PROCESS_S, cache_key, model_startup
            self.key = lambda params: cache_key(task.engine, task.model.id, {**task.fixed_args, **params})
            spec = fast_start.apply(LaunchSpec(task.engine, [], task.model.name), task)
            self.dummy = "--load-format" in spec.argv
            self.model_startup, self.process = model_startup, PROCESS_S

    def place(self, params: dict, gpus: int, bench: float, real_weights: bool = False):
        """A function placing the experiment on the node (its Interval), for ``VirtualNode.run``."""
        from virtual_node import Interval

        def place(node):
            if self.cold is not None:
                startup = self.cold[gpus]
                start = node.earliest_start(gpus, startup + bench)
                return Interval(start, start + startup + bench, gpus, startup)
            key = self.key(params)
            probe = self.model_startup(self.task.model.id, gpus, self.dummy and not real_weights, False)
            start = node.earliest_start(gpus, probe.total + bench)
            hit = self.task.fast_start.compile_cache and node.compiled_before(key, start)
            st = self.model_startup(self.task.model.id, gpus, self.dummy and not real_weights, hit)
            start = node.earliest_start(gpus, st.total + bench)  # a hit is shorter: it fits no later
            return Interval(start, start + st.total + bench, gpus, st.total, key,
                            start + st.process + st.load + st.compile)
        return place


@dataclass
class Spend:
    at_target: dict | None = None
    best: float = -math.inf


class GpuTimeRunner(ReplayRunner):
    """Replays measured levels in the order the task runs them, on the virtual node (nothing to reap,
    no logs: as search_efficiency's replay)."""

    def __init__(self, truth: dict[str, Outcome], task, target: float, node, startups: StartupModel):
        self.truth, self.task, self.target, self.node, self.startups = truth, task, target, node, startups
        self.order = level_order(task)
        self.spend = Spend()
        self.lock = threading.Lock()

    def run(self, params, gpus, name, on_phase, on_level, cancel) -> Outcome:
        measured = self.truth[params_key(params)]
        levels, bench, stopped = [], 0.0, False
        if measured.ok:
            by_key = {(lv["scenario"], lv["concurrency"], lv["rate"]): lv for lv in measured.levels}
            for key in self.order:
                lv = by_key[key]
                levels.append(lv)
                bench += lv["metrics"].get("duration", 0.0)
                if not on_level(LevelResult(**{k: v for k, v in lv.items() if k in LEVEL_FIELDS})):
                    stopped = True
                    break
        order = int(re.search(r"exp(\d+)", name).group(1)) if re.search(r"exp(\d+)", name) else 0
        done = self.node.run(order, self.startups.place(params, len(gpus), bench))
        if not measured.ok:
            return measured
        metrics = select_metrics(self.task, levels)
        with self.lock:
            if is_feasible(self.task, metrics) and not cancel.is_set():
                score = objective_values(self.task, metrics)[0]
                self.spend.best = max(self.spend.best, score)
                if score >= self.target and self.spend.at_target is None:
                    self.spend.at_target = {**self.node.spend_until(done.end), "end": done.end,
                                            "experiments": len(self.node.done), "score": score, "params": params}
                    self._confirm(params, len(gpus), measured)
                    cancel.set()
                    self.node.abort()
        return Outcome(True, levels, stopped_early=stopped, timings=measured.timings)

    def _confirm(self, params: dict, gpus: int, measured: Outcome) -> None:
        """Random weights: the pick runs again with its real weights and every level, after the search."""
        if self.startups.cold is not None or not self.startups.dummy:
            return
        from virtual_node import VirtualNode
        at = self.spend.at_target
        full = sum(lv["metrics"].get("duration", 0.0) for lv in measured.levels)
        node = VirtualNode(NODE_GPUS, 1)
        node.done = [i for i in self.node.done + self.node.inside if i.start < at["end"]]
        node.now = at["end"]
        interval = self.startups.place(params, gpus, full, real_weights=True)(node)
        wall = interval.end - at["end"]
        at["startup"] += gpus * interval.startup
        at["benchmark"] += gpus * full
        at["idle"] += (NODE_GPUS - gpus) * wall
        at["score"] = objective_values(self.task, select_metrics(self.task, measured.levels))[0]


def run_strategy(setup, truth, optimum: float, seed: int, strategy: str, cold: dict | None) -> Spend:
    from virtual_node import VirtualNode

    doc = setup.task("bayesian", seed, len(truth), prune=strategy != "no-stop")
    if strategy != "main":
        doc.pop("simulate")  # the replay stands for real engines: this tree's defaults for a real node
    if strategy == "informative":
        doc["search"]["level_order"] = "informative"
    task = task_from_dict(doc)
    workers = 1
    if strategy in ("default", "no-stop", "informative"):
        from autotuner.search.fast_start import parallel_slots
        workers = parallel_slots(task, NODE_GPUS)
    doc["search"]["parallel"] = workers  # the GPUs are the node's (virtual_node.py), the pool only has room
    task = task_from_dict(doc)
    tmp = tempfile.mkdtemp(prefix="gpu-time-")  # a file: parallel workers share it (in-memory cannot)
    store = Store(f"sqlite:///{tmp}/db.sqlite" if workers > 1 else "sqlite://")
    task_id = prepare_task(store, task, RunOptions())
    node = VirtualNode(NODE_GPUS, workers)
    runner = GpuTimeRunner(truth, task, 0.98 * optimum, node, StartupModel(task, cold))
    try:
        Tuner(task, store, task_id, runner, GpuPool(list(range(NODE_GPUS * workers)))).run()
    except TaskCancelled:
        pass
    shutil.rmtree(tmp, ignore_errors=True)
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


def measure(strategies: list[str], seeds: int, cache: Path, cold: dict | None) -> list[dict]:
    """``cold``: the cold start-ups of main's rows (model -> GPUs -> seconds), None for this tree's."""
    rows = []
    measured = truths(cache)
    for setup in SETUPS:
        t0 = time.time()
        truth, optimum = measured[setup.name]
        for strategy in strategies:
            model_cold = None if cold is None else {int(g): v for g, v in cold[setup.model].items()}
            spends = [run_strategy(setup, truth, optimum, seed, strategy, model_cold) for seed in range(seeds)]
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
        for strategy in STRATEGIES:
            mine = by.get((setup, strategy))
            if mine is None or None in mine["runs"]:
                continue
            parts = []
            if base is not None and None not in base["runs"] and strategy != "no-stop":
                m = statistics.median(_total(x) for x in mine["runs"])
                b = statistics.median(_total(x) for x in base["runs"])
                parts.append(f"{100 * (1 - m / b):5.1f}% fewer GPU-seconds than main (median)")
            if off is not None and None not in off["runs"] and strategy in ("default", "informative"):  # same parallelism
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
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--main-src", type=Path, help="src/ of today's main, for the 'main' rows")
    p.add_argument("--cold-json", type=Path, help=argparse.SUPPRESS)  # main's rows: the cold start-ups
    p.add_argument("--json", type=Path, help="write the rows here instead of printing the table")
    p.add_argument("--table", type=Path, nargs="+", help="print the table of rows saved with --json, and exit")
    p.add_argument("--truth-cache", type=Path, default=Path("/tmp/gpu_time_truth.pkl"),
                   help="the measured spaces (made when absent; delete it after changing the simulator)")
    args = p.parse_args()
    if args.table:
        summarize([row for path in args.table for row in json.loads(path.read_text())])
        return 0
    if args.cold_json is not None:  # the child run on main's tree
        rows = measure(args.strategies.split(","), args.seeds, args.truth_cache, json.loads(args.cold_json.read_text()))
        args.json.write_text(json.dumps(rows, default=str))
        return 0
    truths(args.truth_cache)  # measured once, before both trees replay it
    cold = cold_startups()
    for model, by_gpus in cold.items():
        print(f"cold start-up of {model}: " + ", ".join(f"{g} GPU {v:.0f} s" for g, v in by_gpus.items()),
              file=sys.stderr)
    main_run = None
    if args.main_src is not None:  # alongside, in its own interpreter on the other source tree
        out = Path(f"/tmp/gpu_time_main_{os.getpid()}.json")
        cold_file = Path(f"/tmp/gpu_time_cold_{os.getpid()}.json")
        cold_file.write_text(json.dumps(cold))
        cmd = [sys.executable, __file__, "--seeds", str(args.seeds), "--strategies", "main", "--json", str(out),
               "--truth-cache", str(args.truth_cache), "--cold-json", str(cold_file)]
        main_run = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(args.main_src)},
                                    cwd=Path(__file__).parent)
    rows = measure(args.strategies.split(","), args.seeds, args.truth_cache, None)
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
