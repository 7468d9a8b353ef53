"""An experiment's engine files in a cluster (TensorRT-LLM's extra-options YAML): one ConfigMap,
mounted read-only into the engine container, its path passed after the file's flag."""

from __future__ import annotations

from typing import Any

from ..base import LaunchSpec
from ..docker_images import CONTAINER_CONFIG_DIR
from .options import KubernetesOptions, dns_name, owner_labels

VOLUME_NAME = "autotuner-config"


def config_map_name(experiment: str) -> str:
    return dns_name(f"{experiment}-config", 63)


def config_map(task_name: str, options: KubernetesOptions, spec: LaunchSpec, experiment: str) -> dict[str, Any] | None:
    """The ConfigMap holding the experiment's files; None when it has none."""
    if not spec.files:
        return None
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": config_map_name(experiment), "namespace": options.namespace,
                         "labels": owner_labels(task_name, experiment)},
            "data": {item.name: item.content for item in spec.files}}


def mount_files(container: dict[str, Any], pod: dict[str, Any], spec: LaunchSpec, experiment: str,
                base_mounts: list[dict[str, Any]] | None = None) -> None:
    """Mount the ConfigMap into ``container`` (a runner or a pod's container) and pass each file's path;
    ``pod`` gets the volume. ``base_mounts``: the runtime's mounts, kept since ours replace the list."""
    if not spec.files:
        return
    mounts = list(container.get("volumeMounts") or base_mounts or [])
    container["volumeMounts"] = mounts + [{"name": VOLUME_NAME, "mountPath": CONTAINER_CONFIG_DIR, "readOnly": True}]
    pod["volumes"] = list(pod.get("volumes") or []) + [
        {"name": VOLUME_NAME, "configMap": {"name": config_map_name(experiment)}}]
    args = container.setdefault("args", [])
    for item in spec.files:
        args += [item.flag, f"{CONTAINER_CONFIG_DIR}/{item.name}"]


def refuse_files(spec: LaunchSpec) -> None:
    """The live deployers apply the engine objects only: an experiment that needs a file is refused
    with what to do instead (``autotuner render`` shows the ConfigMap to apply)."""
    if spec.files:
        names = ", ".join(f"{item.flag} ({item.name})" for item in spec.files)
        raise ValueError(f"{spec.engine} needs {names}: the Kubernetes deployers do not create its ConfigMap; "
                         f"run with deployment local or docker, or apply the ConfigMap `autotuner render` prints")
