"""How many experiments each search strategy needs to reach 98% of the exhaustive optimum.

Everything runs in virtual time on the simulated engine. For each setup (scenario x model x GPU x
engine) the whole space is measured once ("truth"); then each strategy runs the real tuning loop
(the same Tuner as ``autotuner run``) against a replay of those measurements, for 10 seeds.

"ours" is TPE with SLO/failure constraints, early stopping and a model-guided warm start. Its
prior must not peek at the truth: it ranks the space with a *different* model of the engine
(``--prior-model``, default the roofline cost model) while the truth uses the default one
(measured step-time tables where shipped). Run: ``python benchmarks/search_efficiency.py``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field

from autotuner.bench.result import LevelResult
from autotuner.deploy.gpu_pool import GpuPool
from autotuner.engines import get_adapter
from autotuner.search.runners import Outcome, VirtualRunner
from autotuner.search.scoring import is_feasible, objective_values, select_metrics
from autotuner.service.session import RunOptions, prepare_task
from autotuner.search.space import all_configurations
from autotuner.search.tuner import TaskCancelled, Tuner
from autotuner.search.warm_start import predict
from autotuner.spec import task_from_dict
from autotuner.store import Store, params_key

SGLANG_SPACE = {"tp-size": [2, 4, 8], "mem-fraction-static": [0.7, 0.8, 0.88, 0.94],
                "chunked-prefill-size": [1024, 4096, 8192, 16384],
                "max-running-requests": [32, 64, 128, 256]}
VLLM_SPACE = {"tensor-parallel-size": [2, 4, 8], "gpu-memory-utilization": [0.7, 0.8, 0.88, 0.95],
              "max-num-batched-tokens": [1024, 4096, 8192, 16384],
              "max-num-seqs": [32, 64, 128, 256]}


@dataclass
class Setup:
    name: str
    model: str
    engine: str
    gpu: str
    scenario: str
    slo: dict
    concurrency: list = field(default_factory=lambda: [32, 128, 256])

    def task(self, strategy: str, seed: int, budget: int, prior: bool = False, prune: bool = True) -> dict:
        return {
            "name": f"{self.name}-{strategy}-{seed}", "model": self.model, "engine": self.engine, "gpus": 8,
            "search": {"strategy": strategy, "max_experiments": budget, "seed": seed, "baseline": False,
                       "prune": prune, "prior": "simulate" if prior else "none",
                       "space": SGLANG_SPACE if self.engine == "sglang" else VLLM_SPACE},
            "objective": {"maximize": "output_throughput_per_gpu"}, "slo": self.slo,
            "workload": {"scenarios": [self.scenario], "concurrency": self.concurrency, "num_requests": 128},
            "simulate": {"gpu": self.gpu, "virtual_time": True},
        }


SETUPS = [
    Setup("chat-llama70b-h100-sglang", "meta-llama/Llama-3.1-70B-Instruct", "sglang", "h100",
          "N(480,240)/(300,150)", {"ttft_p90": 1.0, "tpot_p90": 0.05}),
    Setup("long-llama8b-a100-vllm", "meta-llama/Llama-3.1-8B-Instruct", "vllm", "a100", "D(4096,256)",
          {"ttft_p90": 4.0, "tpot_p90": 0.08}, [8, 32, 64]),
    Setup("prefix-llama70b-h200-sglang", "meta-llama/Llama-3.1-70B-Instruct", "sglang", "h200",
          "P(2048,128)/256", {"ttft_p90": 1.0, "tpot_p90": 0.05}),
]


class ReplayRunner:
    """Replays measured outcomes level by level (so early stopping works) and adds up their time.

    Once a fully measured feasible experiment reaches the target, it asks the tuner to stop: the
    rest of the run cannot change "experiments to reach the target".
    """

    def __init__(self, truth: dict[str, Outcome], task, target: float):
        self.truth, self.task, self.target = truth, task, target
        self.seconds = 0.0

    def reap(self, name: str) -> list[str]:
        return []

    def log_path(self, name: str) -> str | None:
        return None

    def run(self, params, gpus, name, on_phase, on_level, cancel) -> Outcome:
        measured = self.truth[params_key(params)]
        self.seconds += measured.timings.get("startup", 0.0)
        if not measured.ok:
            return measured
        levels = []
        for lv in measured.levels:
            levels.append(lv)
            self.seconds += lv["metrics"].get("duration", 0.0)
            if not on_level(LevelResult(**lv)):
                return Outcome(True, levels, stopped_early=True, timings=measured.timings)
        metrics = select_metrics(self.task, levels)
        if is_feasible(self.task, metrics) and objective_values(self.task, metrics)[0] >= self.target:
            cancel.set()
        return Outcome(True, levels, timings=measured.timings)


def measure_truth(setup: Setup) -> tuple[dict[str, Outcome], float]:
    task = task_from_dict(setup.task("grid", 0, 10))
    runner = VirtualRunner(task, get_adapter(task.engine), {"gpu": setup.gpu, "seed": 0, "startup_seconds": 120.0})
    truth, best = {}, -math.inf
    cancel = threading.Event()
    for params in all_configurations(task.search.space):
        need = get_adapter(task.engine).gpu_count(params)
        out = runner.run(params, list(range(need)), "truth", lambda _p: None, lambda _l: True, cancel)
        truth[params_key(params)] = out
        if out.ok:
            metrics = select_metrics(task, out.levels)
            if is_feasible(task, metrics):
                best = max(best, objective_values(task, metrics)[0])
    return truth, best


def near_optimal_share(setup: Setup, truth: dict[str, Outcome], optimum: float) -> float:
    """How much of the space already lies within 98% of the optimum (what random search hits)."""
    task = task_from_dict(setup.task("grid", 0, 10))
    good = 0
    for out in truth.values():
        if out.ok:
            m = select_metrics(task, out.levels)
            good += is_feasible(task, m) and objective_values(task, m)[0] >= 0.98 * optimum
    return good / len(truth)


def experiments_to_reach(setup: Setup, truth, optimum: float, strategy: str, seed: int, budget: int,
                         prior_predictions=None, prune: bool = True) -> tuple[int | None, float, float]:
    """(experiments until 98% of the optimum or None, best found, virtual seconds spent)."""
    sampler = "bayesian" if strategy in ("tpe", "ours") else strategy
    task = task_from_dict(setup.task(sampler, seed, budget, prior=strategy == "ours", prune=prune))
    store = Store("sqlite://")
    task_id = prepare_task(store, task, RunOptions())
    runner = ReplayRunner(truth, task, 0.98 * optimum)
    tuner = Tuner(task, store, task_id, runner, GpuPool(list(range(8))))
    if prior_predictions is not None:
        tuner.prior = lambda: prior_predictions
    try:
        tuner.run()
    except TaskCancelled:
        pass
    best, reached = -math.inf, None
    for n, exp in enumerate([e for e in store.experiments(task_id) if e.status != "rejected"], start=1):
        if exp.status == "succeeded" and exp.score is not None:
            best = max(best, exp.score)
        if reached is None and best >= 0.98 * optimum:
            reached = n
    return reached, best, runner.seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--strategies", default="grid,random,tpe,gp,ours")
    ap.add_argument("--prior-model", default="roofline", help="cost model the prior ranks with")
    args = ap.parse_args()
    strategies = args.strategies.split(",")
    if "gp" in strategies:
        try:
            import scipy  # noqa: F401
            import torch  # noqa: F401
        except ImportError:
            print("gp skipped: torch and scipy are not installed", file=sys.stderr)
            strategies.remove("gp")
    rows = []
    for setup in SETUPS:
        t0 = time.time()
        truth, optimum = measure_truth(setup)
        size = len(truth)
        task = task_from_dict(setup.task("bayesian", 0, size, prior=True))
        simulate = {"gpu": setup.gpu, "seed": 0, "startup_seconds": 120.0, "cost_model": args.prior_model}
        predictions = predict(task, all_configurations(task.search.space), simulate)
        share = near_optimal_share(setup, truth, optimum)
        print(f"{setup.name}: {size} configurations, optimum {optimum:.1f} tok/s/GPU, "
              f"{100 * share:.1f}% of the space within 98% of it ({time.time() - t0:.0f} s to measure)",
              file=sys.stderr)
        for strategy in strategies:
            counts, spent = [], []
            for seed in range(args.seeds):
                n, best, seconds = experiments_to_reach(setup, truth, optimum, strategy, seed, size,
                                                        predictions if strategy == "ours" else None)
                counts.append(n if n is not None else size + 1)
                spent.append(seconds)
            rows.append((setup.name, size, strategy, statistics.median(counts), max(counts),
                         statistics.median(counts) / size, statistics.median(spent) / 3600))
    print(f"\n{'setup':30} {'space':>5} {'strategy':8} {'median':>7} {'worst':>6} {'% of grid':>9} {'GPU-h':>6}")
    for name, size, strategy, med, worst, frac, hours in rows:
        print(f"{name:30} {size:5d} {strategy:8} {med:7.1f} {worst:6d} {100 * frac:8.1f}% {hours:6.2f}")


if __name__ == "__main__":
    main()
