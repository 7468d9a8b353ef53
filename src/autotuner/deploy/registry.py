"""The deployers by name (``task.deployment``): ``DEPLOYERS`` is the one list.

A deployer's factory takes the task, its log folder and the folder that remembers the engines
started here (for reaping), and returns the deployer with the load generator its benchmark needs
when that is not our own client (an OME BenchmarkJob). Deployer modules load on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..registry import Registry
from .base import Deployer

if TYPE_CHECKING:  # types only: the task spec checks its deployment against DEPLOYERS
    from ..spec.task import Task


@dataclass
class Placement:
    deployer: Deployer
    load: Any = None  # a search.runners.LoadGenerator; None: our own client drives the benchmark


DeployerFactory = Callable[["Task", Path, Path], Placement]
DEPLOYERS: Registry[DeployerFactory] = Registry("deployment", "deployment")


def _local(task: Task, log_dir: Path, state_dir: Path) -> Placement:
    from .local import LocalDeployer
    return Placement(LocalDeployer(log_dir=log_dir, state_dir=state_dir))


def _docker(task: Task, log_dir: Path, state_dir: Path) -> Placement:
    from .docker import DockerDeployer
    return Placement(DockerDeployer.from_task(task, log_dir))


def _kubernetes(task: Task, log_dir: Path, state_dir: Path) -> Placement:
    from .kubernetes import make_kubernetes_deployer
    deployer = make_kubernetes_deployer(task, log_dir)
    if task.benchmark.runner != "ome-benchmarkjob":
        return Placement(deployer)
    from .kubernetes.benchmark_job import BenchmarkJobRunner  # genai-bench in the cluster
    return Placement(deployer, BenchmarkJobRunner(lambda: deployer.kube, task, deployer.options))


for _name, _factory in (("local", _local), ("docker", _docker), ("kubernetes", _kubernetes)):
    DEPLOYERS.register(_name, _factory)
