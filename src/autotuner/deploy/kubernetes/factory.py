"""The Kubernetes deployer for a task's ``kubernetes.mode``: OME InferenceServices or plain Deployments."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .client import Kube
from .lifecycle import KubeDeployer
from .options import parse_options

if TYPE_CHECKING:  # a type only: the task spec names the deployers (deploy.registry)
    from ...spec.task import Task


def make_kubernetes_deployer(task: Task, log_dir: Path, kube: Kube | None = None) -> KubeDeployer:
    """The deployer for ``task.kubernetes.mode``; connects to the cluster on first use.

    ValueError when ``task.kubernetes`` is invalid (naming the field and the allowed values)."""
    options = parse_options(task.kubernetes)
    if options.mode == "deployment":
        from .plain import PlainDeployer
        return PlainDeployer(task, log_dir, kube)
    from .ome import OmeDeployer
    return OmeDeployer(task, log_dir, kube)
