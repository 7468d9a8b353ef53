"""``autotuner cleanup TASK``: remove from the cluster everything the tuner created for a task.

No separate record is kept: every object the tuner creates carries the labels
``app.kubernetes.io/managed-by=autotuner`` and ``autotuner.io/task=<task>``, and the presets are named
after the task. The labels are the record, so it cannot drift from what the cluster holds (a tuner
killed between creating an object and writing a state file would otherwise leak it), and cleanup
works from any machine that can reach the cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .client import Kube, api_message, api_status
from .factory import make_kubernetes_deployer
from .lifecycle import KubeDeployer
from .options import OME_GROUP, OME_VERSION, parse_options

if TYPE_CHECKING:  # a type only: the task spec names the deployers (deploy.registry)
    from ...spec.task import Task


def cleanup_task(task: Task, log_dir: Path | None = None, kube: Kube | None = None) -> list[str]:
    """Delete the task's experiments (both modes) and its presets; returns what was removed."""
    options = parse_options(task.kubernetes)
    kube = kube or Kube.connect(options)
    removed: list[str] = []
    for mode in ("ome", "deployment"):  # the task may have run in the other mode before
        # create_presets only spares the OME deployer from insisting on named model and runtime
        modal = task.model_copy(update={"kubernetes": {**task.kubernetes, "mode": mode, "create_presets": True}})
        deployer: KubeDeployer = make_kubernetes_deployer(modal, log_dir or Path("."), kube)
        removed += deployer.reap_leftovers()
    selector = deployer.task_selector()
    for plural, kind in (("clusterservingruntimes", "ClusterServingRuntime"),
                         ("clusterbasemodels", "ClusterBaseModel")):
        try:
            items = kube.custom.list_cluster_custom_object(OME_GROUP, OME_VERSION, plural,
                                                           label_selector=selector).get("items", [])
        except Exception as e:
            if api_status(e) == 404:
                continue
            raise RuntimeError(f"cannot list {plural}: {api_message(e)}") from e
        for obj in items:
            name = obj["metadata"]["name"]
            try:
                kube.custom.delete_cluster_custom_object(OME_GROUP, OME_VERSION, plural, name)
                removed.append(f"{kind} {name}")
            except Exception as e:
                if api_status(e) != 404:
                    raise RuntimeError(f"cannot delete {kind} {name}: {api_message(e)}") from e
    return removed
