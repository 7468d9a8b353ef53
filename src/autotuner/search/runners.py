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

from ..bench.client import stall_limit
from ..bench.result import BenchmarkResult, LevelResult
from ..bench.telemetry import TelemetryScraper
from ..deploy.base import Deployer, Deployment, DeploymentError, classify_start_failure
from ..engines import EngineAdapter
from ..engines.launch import engine_config
from ..spec.task import Task
from .deadlines import ExperimentClock, LevelDeadlines
from . import fast_start
from .fidelity import workload_for
from .verdict import measurement_problem

PhaseCallback = Callable[[str], None]
ENGINE_EXIT_GRACE_S = 1.0  # after failed requests: how long the last check waits for an exiting engine
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
    verdict: str | None = None  # set by early stopping: hopeless | slo | not competitive | settled | outclassed
    bound: float | None = None  # outclassed: the objective it cannot exceed (early_stop.EarlyStopper.bound)
    telemetry: dict = field(default_factory=dict)  # the engine's /metrics during the benchmark


class ExperimentRunner(Protocol):
    def run(self, params: dict[str, Any], gpus: list[int], name: str, on_phase: PhaseCallback,
            on_level: LevelCallback, cancel: threading.Event) -> Outcome: ...

    def reap(self, name: str) -> list[str]:
        """Remove the engine of experiment ``name`` left by a dead worker; one line per engine removed."""
        ...

    def log_path(self, name: str) -> str | None:
        """Where experiment ``name``'s engine log is written (None when it has none)."""
        ...


class LoadGenerator(Protocol):
    """Drives the benchmark against a deployed engine: our HTTP client (``ClientLoad``), or an
    OME BenchmarkJob in the cluster (``deploy.kubernetes.benchmark_job.BenchmarkJobRunner``)."""

    def measure(self, deployment: Deployment, name: str, num_gpus: int, time_left: float,
                on_level: LevelCallback, stop: threading.Event, cancel: threading.Event) -> BenchmarkResult: ...


class ClientLoad:
    """The load from where the tuner runs, through the engine's OpenAI-compatible API."""

    def __init__(self, task: Task, seed: int = 0):
        self.task, self.seed = task, seed

    def measure(self, deployment, name, num_gpus, time_left, on_level, stop, cancel) -> BenchmarkResult:
        from ..bench.runner import benchmark  # heavy imports only when measuring for real

        stall_limit.set(self.task.timeouts.stall)  # for this thread's benchmarks: cut silent streams
        return benchmark(deployment.endpoint.base_url, deployment.endpoint.model_name, workload_for(self.task),
                         slo=self.task.slo, num_gpus=num_gpus, seed=self.seed, api=self.task.api,
                         request_timeout=time_left, on_level=on_level, cancel=stop,
                         workers=self.task.benchmark.workers)


class DeployedRunner:
    """``load``: who drives the benchmark, chosen when the task is wired (our client by default)."""

    def __init__(self, task: Task, adapter: EngineAdapter, deployer: Deployer,
                 simulate: dict[str, Any] | None = None, seed: int = 0, load: LoadGenerator | None = None):
        self.task, self.adapter, self.deployer, self.simulate, self.seed = task, adapter, deployer, simulate, seed
        self.load = load or ClientLoad(task, seed)

    def reap(self, name: str) -> list[str]:
        """The engine of an experiment taken back from a dead worker (if it left one we can reach)."""
        return self.deployer.reap_leftovers(name)

    def log_path(self, name: str) -> str | None:
        path = self.deployer.log_path(name)
        return None if path is None else str(path)

    def run(self, params, gpus, name, on_phase, on_level, cancel) -> Outcome:
        spec = fast_start.apply(self.adapter.launch_spec(self.task.model.id, self.task.model.name,
                                                         engine_config(self.task, params), self.simulate), self.task,
                                self.simulate)
        t0 = time.monotonic()
        clock = ExperimentClock(t0, self.task.timeouts.experiment)  # deploy + benchmark + teardown
        on_phase("deploying")
        try:
            deployment = self.deployer.deploy(spec, name, gpus, clock.startup_timeout(self.task.timeouts.startup),
                                              cancel)
        except DeploymentError as e:
            return Outcome(False, error=e.message + (f"\n{e.log_tail}" if e.log_tail else ""),
                           reason=e.reason, log_path=str(e.log_path) if e.log_path else None,
                           timings={"startup": time.monotonic() - t0})
        with deployment:
            deployment.stop_deadline = clock.end
            startup = time.monotonic() - t0
            on_phase("benchmarking")
            deadline = clock.benchmark_end - time.monotonic()
            level_deadlines = (LevelDeadlines(workload_for(self.task), clock.benchmark_end, self.task.timeouts.stall)
                               if self.task.benchmark.runner == "client" else None)
            watch = _Watch(deployment, cancel, time.monotonic() + max(deadline, 1.0), level_deadlines)

            def checked_level(level: LevelResult) -> bool:
                go_on = on_level(level)
                # A level below the success threshold already fails the experiment: measure no further.
                whole = level.metrics.get("success_rate", 0.0) >= self.task.benchmark.min_success_rate
                if level_deadlines is not None:
                    level_deadlines.begin_next()
                return go_on and whole and watch.check()

            # The engine's own view during the load: running/queued requests, KV usage, cache hits.
            scraper = TelemetryScraper(deployment.endpoint.base_url.rstrip("/") + "/metrics", self.task.engine)
            scraper.start()
            watch.start()
            try:
                result = self.load.measure(deployment, name, max(len(gpus), 1), max(deadline, 1.0), checked_level,
                                           watch.stop, cancel)
            except Exception as e:  # the engine died mid-benchmark, the client or the BenchmarkJob failed
                watch.close()
                scraper.stop()
                return Outcome(False, error=f"benchmark failed: {e}\n{deployment.log_tail(20)}",
                               reason=e.reason if isinstance(e, DeploymentError) else "crash",
                               log_path=str(deployment.log_path),
                               timings={"startup": startup, "benchmark": time.monotonic() - t0 - startup})
            watch.close()
            failed_requests = any(lv.metrics.get("success_rate", 0.0) < 1.0 for lv in result.levels)
            # and once more at the end; after failed requests, a moment for an exiting engine to be gone
            watch.settle(ENGINE_EXIT_GRACE_S if failed_requests else 0.0)
            telemetry = scraper.stop()
            on_phase("tearing down")
            log_tail = deployment.log_tail(20)
        levels = [lv.to_dict() for lv in result.levels]
        timings = {"startup": startup, "benchmark": time.monotonic() - t0 - startup}
        if cancel.is_set():
            return Outcome(False, levels, "cancelled", "cancelled", str(deployment.log_path), timings=timings)
        problem = measurement_problem(levels, self.task.benchmark.min_success_rate,
                                      engine_alive=not watch.dead_seen, deadline_hit=watch.deadline_hit,
                                      deadline_note=level_deadlines.describe() if level_deadlines is not None else None)
        if problem is not None:  # kept for the record (levels), never ranked
            return Outcome(False, levels, f"{problem.message}\n{log_tail}".rstrip(), problem.reason,
                           str(deployment.log_path), timings=timings)
        return Outcome(True, levels, log_path=str(deployment.log_path), stopped_early=result.pruned,
                       timings=timings, telemetry=telemetry.to_dict())


class _Watch:
    """Stops the benchmark when the user cancels, the experiment's (or the running level's) deadline
    passes or the engine exits; remembers which of the last two happened (checked twice a second, and
    between levels)."""

    def __init__(self, deployment, cancel: threading.Event, deadline: float, levels: LevelDeadlines | None = None,
                 interval: float = 0.5):
        self.deployment, self.cancel, self.deadline, self.interval = deployment, cancel, deadline, interval
        self.levels = levels  # each level's own deadline, when the levels are ours to drive
        self.stop = threading.Event()
        self.dead_seen = self.deadline_hit = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="experiment-watch")

    def start(self) -> None:
        if self.levels is not None:
            self.levels.begin_next()
        self._thread.start()

    def settle(self, seconds: float) -> None:
        """The engine's last check: polled for up to ``seconds`` (requests failing as the engine exits
        arrive before its exit status does)."""
        end = time.monotonic() + seconds
        if not self.deployment.alive():
            self.dead_seen = True
            return
        while time.monotonic() < end:
            time.sleep(0.05)
            if not self.deployment.alive():
                self.dead_seen = True
                return

    def check(self) -> bool:
        """True while the benchmark may go on."""
        if not self.deployment.alive():
            self.dead_seen = True
        now = time.monotonic()
        if now >= self.deadline or (self.levels is not None and self.levels.expired(now)):
            self.deadline_hit = True
        if self.dead_seen or self.deadline_hit or self.cancel.is_set():
            self.stop.set()
        return not self.stop.is_set()

    def _loop(self) -> None:
        while not self._closed.wait(self.interval) and self.check():
            pass

    def close(self) -> None:
        self._closed.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class VirtualRunner:
    """Virtual time: the simulated engine's scheduler without HTTP and without sleeping."""

    def __init__(self, task: Task, adapter: EngineAdapter, simulate: dict[str, Any], seed: int = 0,
                 log_dir: Path | None = None):
        self.task, self.adapter, self.simulate, self.seed, self.log_dir = task, adapter, simulate, seed, log_dir
        self.compiled: set[str] = set()  # compile cache keys filled so far (modelled start-ups)
        self._lock = threading.Lock()

    def _startup(self, params: dict, spec) -> float:
        if self.simulate.get("startup") != "modelled":
            return float(self.simulate.get("startup_seconds", 0.3))
        with self._lock:
            return _modelled_startup(self.task, self.adapter, params, spec.argv, self.compiled)

    def reap(self, name: str) -> list[str]:
        return []  # nothing outlives a virtual experiment

    def log_path(self, name: str) -> str | None:
        return None

    def run(self, params, gpus, name, on_phase, on_level, cancel) -> Outcome:
        from ..sim.errors import SimStartupError
        from ..sim.virtual import simulate_benchmark

        spec = fast_start.apply(self.adapter.launch_spec(self.task.model.id, self.task.model.name,
                                                         engine_config(self.task, params), self.simulate), self.task,
                                self.simulate)
        argv = spec.argv[3:]  # drop "python -m autotuner.sim"
        on_phase("simulating")
        startup = self._startup(params, spec)
        try:
            engine = virtual_engine(argv, spec.files, name)  # reads its config files before they go
            result = simulate_benchmark(argv, workload_for(self.task), slo=self.task.slo,
                                        num_gpus=max(len(gpus), spec.num_gpus), seed=self.seed,
                                        on_level=lambda lv: on_level(lv) and not cancel.is_set(), engine=engine)
        except SimStartupError as e:
            return Outcome(False, error=str(e), reason=classify_start_failure(str(e)),
                           timings={"startup": startup})
        levels = [lv.to_dict() for lv in result.levels]
        bench_s = sum(lv["metrics"].get("duration", 0.0) for lv in levels)
        problem = measurement_problem(levels, self.task.benchmark.min_success_rate)
        if problem is not None:
            return Outcome(False, levels, problem.message, problem.reason,
                           timings={"startup": startup, "benchmark": bench_s, "virtual": 1.0})
        return Outcome(True, levels, stopped_early=result.pruned,
                       timings={"startup": startup, "benchmark": bench_s, "virtual": 1.0})


def _modelled_startup(task: Task, adapter: EngineAdapter, params: dict, argv: list[str], compiled: set[str]) -> float:
    """The modelled start-up (``sim/startup.py``) of one experiment; ``compiled`` holds the cache keys
    compiled so far (a hit when the key is there and the compile cache is on)."""
    from ..sim.startup import cache_key, model_startup
    config = engine_config(task, params)
    key = cache_key(task.engine, task.model.id, config)
    hit = task.fast_start.compile_cache and key in compiled
    compiled.add(key)
    dummy = "dummy" in argv[argv.index("--load-format") + 1:][:1] if "--load-format" in argv else False
    return model_startup(task.model.id, adapter.gpu_count(config), dummy, hit).total


def virtual_engine(argv: list[str], files: list, name: str):
    """The simulated engine of ``argv`` with its config files (TensorRT-LLM's YAML) written for the read;
    None without files (``simulate_benchmark`` builds it)."""
    if not files:
        return None
    import tempfile

    from ..engines.launch import argv_with_files
    from ..sim.engine import SimEngine
    with tempfile.TemporaryDirectory(prefix="autotuner-virtual-") as directory:
        return SimEngine.from_argv(argv_with_files(argv, files, Path(directory), name or "experiment"))
