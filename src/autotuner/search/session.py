"""One task from start to results: pick the runner and deployer, resume or restart, run the tuner."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from ..deploy.base import Deployer
from ..deploy.gpu_pool import GpuPool, discover_gpus
from ..engines.preflight import flag_problems
from ..engines import get_adapter
from ..spec.errors import SpecError
from ..spec.task import Simulate, Task
from ..store import Store
from ..store.models import utcnow
from .runners import DeployedRunner, ExperimentRunner, VirtualRunner
from .space import check_strategy
from .tuner import EventSink, TaskCancelled, Tuner


@dataclass
class RunOptions:
    simulate_gpu: str | None = None  # --simulate [GPU]
    virtual_time: bool = False
    out_dir: Path = Path("runs")
    restart: bool = False
    state_dir: Path = field(default_factory=lambda: Path(
        os.environ.get("AUTOTUNER_STATE_DIR", Path.home() / ".autotuner")))  # engine PIDs for reaping

    def to_dict(self) -> dict[str, Any]:
        return {"simulate_gpu": self.simulate_gpu, "virtual_time": self.virtual_time, "out_dir": str(self.out_dir)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunOptions":
        return cls(simulate_gpu=data.get("simulate_gpu"), virtual_time=bool(data.get("virtual_time")),
                   out_dir=Path(data.get("out_dir", "runs")))


def simulation(task: Task, options: RunOptions) -> Simulate | None:
    """The simulated engine's settings, when this run is a dry run."""
    if options.simulate_gpu is None and task.simulate is None:
        return None
    sim = task.simulate.model_copy() if task.simulate else Simulate()
    if options.simulate_gpu:
        sim.gpu = options.simulate_gpu  # type: ignore[assignment]
    if options.virtual_time:
        sim.virtual_time = True
    return sim


def check_runnable(task: Task, options: RunOptions) -> None:
    """Everything that would stop the task, found before anything starts."""
    problems = task_problems(task)
    if problems:
        raise SpecError(problems)
    if simulation(task, options) is None and task.deployment == "local":
        ok, why = get_adapter(task.engine).runnable()
        if not ok:
            raise SpecError([f"engine: {why}"])
        if task.engine in ("sglang", "vllm") and not discover_gpus():
            raise SpecError(["gpus: no NVIDIA GPU found on this machine (nvidia-smi); "
                             "add --simulate [GPU] to dry-run the task on the simulated engine"])


def task_problems(task: Task) -> list[str]:
    """Everything wrong with a task that can be known before deploying: strategy, engine flags, and
    whether its benchmark runner fits its deployment."""
    from ..deploy.kubernetes.benchmark_job import benchmark_problems
    return check_strategy(task.search) + flag_problems(task) + benchmark_problems(task)


def prepare_task(store: Store, task: Task, options: RunOptions, status: str = "running") -> int:
    """The task's row: new, resumed (same spec) or restarted (``--restart``)."""
    spec = task.model_dump(mode="json")
    row = store.task_by_name(task.name)
    if row is not None and options.restart:
        delete_task(store, row.id)
        row = None
    if row is not None:
        if row.spec != spec:
            raise SpecError([f"name: a task named {task.name!r} with a different spec is already in "
                             f"the database; rerun with --restart to start it over, or rename it"])
        store.update_task(row.id, status=status, cancel_requested=False, options=options.to_dict())
        return row.id
    return store.create_task(task.name, spec, status=status, options=options.to_dict()).id


def delete_task(store: Store, task_id: int) -> None:
    try:
        optuna.delete_study(study_name=f"autotuner-task-{task_id}", storage=store.url)
    except KeyError:
        pass
    store.delete_task(task_id)


def make_runner(task: Task, options: RunOptions, run_dir: Path, shared: bool = False) -> ExperimentRunner:
    """``shared``: other tuners may run this task's engines now; only dead tuners' local engines
    (their owner process is gone) are reaped, not the task's containers or cluster objects."""
    adapter = get_adapter(task.engine)
    sim = simulation(task, options)
    sim_args = None if sim is None else {**sim.model_dump(), "seed": task.search.seed}
    if sim is not None and sim.virtual_time:
        return VirtualRunner(task, adapter, sim_args, seed=task.search.seed)
    deployer = make_deployer(task, run_dir / "logs", options, simulated=sim is not None)
    from ..deploy.local import LocalDeployer
    reap = not shared or isinstance(deployer, LocalDeployer)
    for leftover in (deployer.reap_leftovers() if reap else []):
        print(f"reaped an engine left by an earlier run: {leftover}")
    return DeployedRunner(task, adapter, deployer, sim_args, seed=task.search.seed)


def make_deployer(task: Task, log_dir: Path, options: RunOptions, simulated: bool) -> Deployer:
    """The task's deployer; ``--simulate`` runs through the local one whatever the task says."""
    if task.deployment == "docker" and not simulated:
        from ..deploy.docker import DockerDeployer
        return DockerDeployer.from_task(task, log_dir)
    if task.deployment == "kubernetes" and not (simulated and options.simulate_gpu):
        from ..deploy.kubernetes import make_kubernetes_deployer
        return make_kubernetes_deployer(task, log_dir)
    from ..deploy.local import LocalDeployer
    return LocalDeployer(log_dir=log_dir, state_dir=options.state_dir)


def gpu_ids(task: Task, runner: ExperimentRunner) -> list[int]:
    """The pool's GPU ids; on a cluster, no more than its nodes report allocatable."""
    deployer = getattr(runner, "deployer", None)
    if task.deployment == "kubernetes" and hasattr(deployer, "kube"):
        from ..deploy.kubernetes import allocatable_gpus
        available = allocatable_gpus(deployer.kube)
        if 0 < available < len(task.gpu_ids):
            return task.gpu_ids[:available]
    return task.gpu_ids


def execute(store: Store, task: Task, task_id: int, options: RunOptions, on_event: EventSink | None = None,
            cancel: threading.Event | None = None, mode: str = "alone", worker: str | None = None,
            lease_seconds: float = 30.0, runner: ExperimentRunner | None = None) -> str:
    """Run the task to its end; returns the final status (succeeded | failed | cancelled).
    ``mode="helper"``: lend a hand to the worker that owns the task (see ``Tuner``); the owner keeps
    the task's status, so a helper returns "helped" (or "cancelled"). ``runner``: the task's own
    by default (tests pass one that needs no engine)."""
    check_runnable(task, options)
    run_dir = Path(options.out_dir) / task.name
    run_dir.mkdir(parents=True, exist_ok=True)

    def tuner() -> Tuner:
        run_with = runner or make_runner(task, options, run_dir, shared=mode != "alone")
        return Tuner(task, store, task_id, run_with, GpuPool(gpu_ids(task, run_with)), on_event, cancel,
                     mode=mode, worker=worker, lease_seconds=lease_seconds)

    if mode == "helper":
        try:
            tuner().run()
        except TaskCancelled:
            return "cancelled"
        return "helped"
    store.update_task(task_id, status="running", started_at=utcnow(), error=None)
    status, error = "failed", None
    try:  # whatever goes wrong from here on ends the task failed, with its message
        tuner().run()
        ok = store.count_experiments(task_id, ["succeeded"]) > 0
        status = "succeeded" if ok else "failed"
        from ..report.failure_cause import no_best_message
        error = None if ok else no_best_message(store.experiments(task_id))
    except TaskCancelled:
        status = "cancelled"
    except KeyboardInterrupt:
        status, error = "cancelled", "interrupted"
        for exp in store.experiments(task_id):
            if exp.status in ("running", "pending"):  # resumed (and re-run) by the next run
                store.update_experiment(exp.id, status="interrupted", error="interrupted (Ctrl-C)")
        raise
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        raise
    finally:
        store.update_task(task_id, status=status, finished_at=utcnow(), error=error)
        store.add_event(task_id, "task_finished", {"status": status, "error": error})
    return status
