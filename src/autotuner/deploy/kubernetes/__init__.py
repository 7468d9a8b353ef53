"""``deployment: kubernetes``: experiments as OME InferenceServices (``kubernetes.mode: ome``, the
default) or plain Deployments + Services (``mode: deployment``), through the official client.

    deployer = make_kubernetes_deployer(task, log_dir)   # a Deployer, safe to use from several threads
    render(task, {"tp-size": 2})                          # the manifests, without a cluster
    cleanup_task(task)                                    # everything the task left in the cluster
    allocatable_gpus(kube)                                # nodes' nvidia.com/gpu, to bound parallelism
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .client import Kube, allocatable_gpus
from .lifecycle import KubeDeployer
from .manifests import render
from .options import KubernetesOptions, parse_options

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


def cleanup_task(task: Task, log_dir: Path | None = None, kube: Kube | None = None) -> list[str]:
    from .cleanup import cleanup_task as _cleanup
    return _cleanup(task, log_dir, kube)


__all__ = ["make_kubernetes_deployer", "render", "cleanup_task", "allocatable_gpus", "Kube",
           "KubernetesOptions", "parse_options", "KubeDeployer"]
