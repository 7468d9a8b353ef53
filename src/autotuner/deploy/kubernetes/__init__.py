"""``deployment: kubernetes``: experiments as OME InferenceServices (``kubernetes.mode: ome``, the
default) or plain Deployments + Services (``mode: deployment``), through the official client.

    deployer = make_kubernetes_deployer(task, log_dir)   # a Deployer, safe to use from several threads
    render(task, {"tp-size": 2})                          # the manifests, without a cluster
    cleanup_task(task)                                    # everything the task left in the cluster
    allocatable_gpus(kube)                                # nodes' nvidia.com/gpu, to bound parallelism
"""

from __future__ import annotations

from .cleanup import cleanup_task
from .client import Kube, allocatable_gpus
from .factory import make_kubernetes_deployer
from .lifecycle import KubeDeployer
from .manifests import render
from .options import KubernetesOptions, parse_options

__all__ = ["make_kubernetes_deployer", "render", "cleanup_task", "allocatable_gpus", "Kube",
           "KubernetesOptions", "parse_options", "KubeDeployer"]
