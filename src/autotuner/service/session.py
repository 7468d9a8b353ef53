"""One task from start to results: wire the runner, deployer and load generator, resume or restart,
run the tuner."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..deploy.base import Deployer
from ..deploy.gpu_pool import GpuPool, discover_gpus
from ..deploy.registry import DEPLOYERS, Placement
from ..engines import get_adapter
from ..spec.errors import SpecError
from ..spec.task import Simulate, Task
from ..store import Store
from ..store.models import utcnow
from ..search.experiment import EventSink
from ..search.runners import DeployedRunner, ExperimentRunner, VirtualRunner
from ..search.problems import task_problems  # re-exported: callers import it from here
from ..search.study import delete_study
from ..search.tuner import TaskCancelled, Tuner

log = logging.getLogger("autotuner.session")


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
        adapter = get_adapter(task.engine)
        ok, why = adapter.runnable()
        if not ok:
            raise SpecError([f"engine: {why}"])
        if adapter.needs_nvidia_gpu and not discover_gpus():
            raise SpecError(["gpus: no NVIDIA GPU found on this machine (nvidia-smi); "
                             "add --simulate [GPU] to dry-run the task on the simulated engine"])


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
    delete_study(store, task_id)
    store.delete_task(task_id)


@dataclass
class Wiring:
    """What a task runs on: its runner and the GPU ids its pool hands out."""

    runner: ExperimentRunner
    gpu_ids: list[int]


def wire(task: Task, options: RunOptions, run_dir: Path, shared: bool = False) -> Wiring:
    """The task's runner and GPUs. ``shared``: other tuners may run this task's engines now; only
    leftovers whose tuner is gone (``Deployer.leftovers_are_orphans``) are reaped then."""
    adapter = get_adapter(task.engine)
    sim = simulation(task, options)
    sim_args = None if sim is None else {**sim.model_dump(), "seed": task.search.seed}
    if sim is not None and sim.virtual_time:
        return Wiring(VirtualRunner(task, adapter, sim_args, seed=task.search.seed), task.gpu_ids)
    placed = make_deployer(task, run_dir / "logs", options, simulated=sim is not None)
    if not shared or placed.deployer.leftovers_are_orphans:
        for leftover in placed.deployer.reap_leftovers():
            log.warning("reaped an engine left by an earlier run: %s", leftover)
    runner = DeployedRunner(task, adapter, placed.deployer, sim_args, seed=task.search.seed, load=placed.load)
    return Wiring(runner, gpu_ids(task, placed.deployer))


def make_deployer(task: Task, log_dir: Path, options: RunOptions, simulated: bool) -> Placement:
    """The task's deployer (and the load generator its benchmark needs, when not our own client);
    ``--simulate`` runs through the local deployer whatever the task says."""
    name = task.deployment
    if simulated and (name == "docker" or (name == "kubernetes" and options.simulate_gpu)):
        name = "local"
    return DEPLOYERS.create(name, task, log_dir, options.state_dir)


def gpu_ids(task: Task, deployer: Deployer) -> list[int]:
    """The pool's GPU ids; no more than the deployer can place (a cluster's allocatable GPUs)."""
    available = deployer.capacity()
    if available is not None and 0 < available < len(task.gpu_ids):
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
        wiring = Wiring(runner, task.gpu_ids) if runner else wire(task, options, run_dir, shared=mode != "alone")
        return Tuner(task, store, task_id, wiring.runner, GpuPool(wiring.gpu_ids), on_event, cancel,
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
