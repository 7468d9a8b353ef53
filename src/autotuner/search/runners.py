"""Experiment runners: one configuration in, measurements (or the reason it failed) out.

``DeployedRunner`` starts an engine through a deployer and benchmarks it over HTTP;
``VirtualRunner`` asks the simulated engine's virtual-time mode for the same metrics in
milliseconds. The tuner does not know which one it drives.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from ..bench.result import BenchmarkResult, LevelResult
from ..bench.telemetry import TelemetryScraper
from ..deploy.base import Deployer, DeploymentError
from ..engines import EngineAdapter
from ..spec.task import Task

PhaseCallback = Callable[[str], None]
LevelCallback = Callable[[LevelResult], bool]  # False stops the benchmark early


@dataclass
class Outcome:
    ok: bool
    levels: list[dict] = field(default_factory=list)
    error: str | None = None
    reason: str | None = None  # oom | crash | timeout | cancelled | unavailable | error
    log_path: str | None = None
    stopped_early: bool = False
    timings: dict[str, float] = field(default_factory=dict)  # startup, benchmark (seconds)
    verdict: str | None = None  # set by early stopping: hopeless | slo | not competitive
    telemetry: dict = field(default_factory=dict)  # the engine's /metrics during the benchmark


class ExperimentRunner(Protocol):
    def run(self, params: dict[str, Any], gpus: list[int], name: str, on_phase: PhaseCallback,
            on_level: LevelCallback, cancel: threading.Event) -> Outcome: ...


def engine_config(task: Task, params: dict[str, Any]) -> dict[str, Any]:
    """The flags an experiment runs with: the task's fixed flags, overridden by the trial's."""
    return {**task.fixed_args, **params}


class DeployedRunner:
    def __init__(self, task: Task, adapter: EngineAdapter, deployer: Deployer,
                 simulate: dict[str, Any] | None = None, seed: int = 0):
        self.task, self.adapter, self.deployer, self.simulate, self.seed = task, adapter, deployer, simulate, seed

    def reap(self, name: str) -> list[str]:
        """The engine of an experiment taken back from a dead worker (if it left one we can reach)."""
        return self.deployer.reap_leftovers(name)

    def run(self, params, gpus, name, on_phase, on_level, cancel) -> Outcome:
        from ..bench.runner import benchmark  # heavy imports only when measuring for real

        spec = self.adapter.launch_spec(self.task.model.id, self.task.model.name,
                                        engine_config(self.task, params), self.simulate)
        t0 = time.monotonic()
        on_phase("deploying")
        try:
            deployment = self.deployer.deploy(spec, name, gpus, self.task.timeouts.startup, cancel)
        except DeploymentError as e:
            return Outcome(False, error=e.message + (f"\n{e.log_tail}" if e.log_tail else ""),
                           reason=e.reason, log_path=str(e.log_path) if e.log_path else None,
                           timings={"startup": time.monotonic() - t0})
        with deployment:
            startup = time.monotonic() - t0
            on_phase("benchmarking")
            deadline = self.task.timeouts.experiment - startup
            # The engine's own view during the load: running/queued requests, KV usage, cache hits.
            scraper = TelemetryScraper(deployment.endpoint.base_url.rstrip("/") + "/metrics", self.task.engine)
            scraper.start()
            try:
                if self.task.benchmark.runner == "ome-benchmarkjob":  # genai-bench in the cluster
                    levels = self.deployer.run_benchmark_job(name, max(len(gpus), 1),  # type: ignore[attr-defined]
                                                             time.monotonic() + max(deadline, 1.0), cancel)
                    for level in levels:
                        on_level(level)
                    result = BenchmarkResult(levels)
                else:
                    result = benchmark(deployment.endpoint.base_url, deployment.endpoint.model_name,
                                       self.task.workload, slo=self.task.slo, num_gpus=max(len(gpus), 1),
                                       seed=self.seed, api=self.task.api, request_timeout=max(deadline, 1.0),
                                       on_level=on_level, cancel=cancel)
            except Exception as e:  # the engine died mid-benchmark, the client or the BenchmarkJob failed
                scraper.stop()
                return Outcome(False, error=f"benchmark failed: {e}\n{deployment.log_tail(20)}",
                               reason=e.reason if isinstance(e, DeploymentError) else "crash",
                               log_path=str(deployment.log_path),
                               timings={"startup": startup, "benchmark": time.monotonic() - t0 - startup})
            telemetry = scraper.stop()
            on_phase("tearing down")
        levels = [lv.to_dict() for lv in result.levels]
        timings = {"startup": startup, "benchmark": time.monotonic() - t0 - startup}
        if cancel.is_set():
            return Outcome(False, levels, "cancelled", "cancelled", str(deployment.log_path), timings=timings)
        if levels and all(lv["metrics"].get("success_rate", 0) == 0 for lv in levels):
            errors = "; ".join(e for lv in result.levels for e in lv.errors[:2])
            return Outcome(False, levels, f"every request failed: {errors}", "error", str(deployment.log_path),
                           timings=timings)
        return Outcome(True, levels, log_path=str(deployment.log_path), stopped_early=result.pruned,
                       timings=timings, telemetry=telemetry.to_dict())


class VirtualRunner:
    """Virtual time: the simulated engine's scheduler without HTTP and without sleeping."""

    def __init__(self, task: Task, adapter: EngineAdapter, simulate: dict[str, Any], seed: int = 0,
                 log_dir: Path | None = None):
        self.task, self.adapter, self.simulate, self.seed, self.log_dir = task, adapter, simulate, seed, log_dir

    def run(self, params, gpus, name, on_phase, on_level, cancel) -> Outcome:
        from ..sim.errors import SimStartupError
        from ..sim.virtual import simulate_benchmark

        spec = self.adapter.launch_spec(self.task.model.id, self.task.model.name,
                                        engine_config(self.task, params), self.simulate)
        argv = spec.argv[3:]  # drop "python -m autotuner.sim"
        on_phase("simulating")
        startup = float(self.simulate.get("startup_seconds", 0.3))
        try:
            result = simulate_benchmark(argv, self.task.workload, slo=self.task.slo,
                                        num_gpus=max(len(gpus), spec.num_gpus), seed=self.seed,
                                        on_level=lambda lv: on_level(lv) and not cancel.is_set())
        except SimStartupError as e:
            return Outcome(False, error=str(e), reason="oom" if _is_oom(str(e)) else "crash",
                           timings={"startup": startup})
        levels = [lv.to_dict() for lv in result.levels]
        bench_s = sum(lv["metrics"].get("duration", 0.0) for lv in levels)
        return Outcome(True, levels, stopped_early=result.pruned,
                       timings={"startup": startup, "benchmark": bench_s, "virtual": 1.0})


def _is_oom(message: str) -> bool:
    m = message.lower()
    return any(s in m for s in ("out of memory", "not enough memory", "no available memory"))
