"""Talking to the cluster with the official ``kubernetes`` client: configuration, objects as dicts,
API errors as readable text, watches that end on a deadline or a cancel, and the GPU count.

The client is imported lazily: it is an optional dependency, needed only for ``deployment: kubernetes``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..base import DeploymentError
from .options import KubernetesOptions

GPU_RESOURCE = "nvidia.com/gpu"
WATCH_CHUNK_SECONDS = 2  # a watch is re-opened this often, to notice a cancel or the deadline
# Any one watch may return a verdict: a value ends the wait.
Verdict = Callable[[str, dict[str, Any]], Any]


def k8s():
    try:
        import kubernetes
    except ImportError as e:
        raise DeploymentError("unavailable", "the kubernetes Python package is not installed "
                              "(pip install 'kubernetes>=37,<38')") from e
    return kubernetes


def in_cluster() -> bool:
    """Whether this process runs in a pod (the service account and API address are there)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and \
        Path("/var/run/secrets/kubernetes.io/serviceaccount/token").exists()


def load_api_client(options: KubernetesOptions):
    """An ApiClient from ``kubernetes.kubeconfig``, else $KUBECONFIG or ~/.kube/config, else the pod's
    service account; DeploymentError 'unavailable' when none works."""
    kubernetes = k8s()
    cfg = kubernetes.client.Configuration()
    default = Path("~/.kube/config").expanduser()
    try:
        if options.kubeconfig:
            path = str(Path(options.kubeconfig).expanduser())
            where = f"kubeconfig {path}"
            kubernetes.config.load_kube_config(config_file=path, context=options.context,
                                               client_configuration=cfg, persist_config=False)
        elif os.environ.get("KUBECONFIG") or (default.exists() and not in_cluster()):
            path = os.environ.get("KUBECONFIG") or str(default)  # $KUBECONFIG may list several files
            where = f"kubeconfig {path}"
            kubernetes.config.load_kube_config(config_file=path, context=options.context,
                                               client_configuration=cfg, persist_config=False)
        elif in_cluster():
            where = "the in-cluster service account"
            kubernetes.config.load_incluster_config(client_configuration=cfg)
        else:
            raise DeploymentError("unavailable", "no Kubernetes configuration: set kubernetes.kubeconfig or "
                                  "$KUBECONFIG, create ~/.kube/config, or run the tuner in a pod")
    except DeploymentError:
        raise
    except Exception as e:  # ConfigException, missing files, bad YAML
        raise DeploymentError("unavailable", f"cannot load {where}: {e}") from e
    cfg.connection_pool_maxsize = 32  # parallel experiments each hold a watch open
    return kubernetes.client.ApiClient(cfg)


class Kube:
    """One cluster connection and the typed APIs the deployers use; safe to share between threads."""

    def __init__(self, api_client):
        kubernetes = k8s()
        self.api = api_client
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.apps = kubernetes.client.AppsV1Api(api_client)
        self.custom = kubernetes.client.CustomObjectsApi(api_client)

    @classmethod
    def connect(cls, options: KubernetesOptions) -> "Kube":
        return cls(load_api_client(options))

    def as_dict(self, obj: Any) -> dict[str, Any]:
        """A typed model (or a custom object's dict) as the API's JSON (camelCase keys)."""
        return obj if isinstance(obj, dict) else self.api.sanitize_for_serialization(obj)

    def fresh_client(self):
        """A separate ApiClient on the same configuration (``stream.portforward`` patches its client)."""
        return k8s().client.ApiClient(self.api.configuration)


def api_status(e: Exception) -> int | None:
    return getattr(e, "status", None)


def api_message(e: Exception) -> str:
    """The API server's own message from an ApiException (its Status body), else the exception."""
    body = getattr(e, "body", None)
    if body:
        try:
            return json.loads(body).get("message") or str(body)
        except (ValueError, AttributeError):
            return str(body)
    return str(getattr(e, "reason", None) or e)


def is_api_error(e: Exception) -> bool:
    return isinstance(e, k8s().client.ApiException)


def wait_for(get: Callable[[], dict[str, Any] | None], watch_fn: Callable, watch_args: tuple, name: str,
             verdict: Verdict, deadline: float, cancel: threading.Event | None,
             between: Callable[[], Any] | None = None) -> Any:
    """Wait for ``verdict(event_type, object)`` to return a value, watching the object ``name``.

    ``get()`` gives the current object (None when absent: the verdict sees a DELETED event); then a
    watch from its resource version delivers every change. ``between()`` runs each time the watch is
    re-opened and may return a value too. Returns None at the deadline; raises DeploymentError
    'cancelled' on ``cancel``."""
    kubernetes = k8s()
    obj = get()
    result = verdict("DELETED" if obj is None else "ADDED", obj or {})
    rv = None if obj is None else obj["metadata"].get("resourceVersion")
    while result is None:
        if cancel is not None and cancel.is_set():
            raise DeploymentError("cancelled", "cancelled while waiting for the engine")
        if between is not None and (result := between()) is not None:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        kwargs: dict[str, Any] = {"field_selector": f"metadata.name={name}",
                                  "timeout_seconds": max(1, int(min(left, WATCH_CHUNK_SECONDS) + 0.999))}
        if rv:
            kwargs["resource_version"] = rv
        w = kubernetes.watch.Watch()
        try:
            for event in w.stream(watch_fn, *watch_args, **kwargs):
                raw = event["raw_object"]
                rv = raw.get("metadata", {}).get("resourceVersion", rv)
                result = verdict(event["type"], raw)
                if result is not None:
                    w.stop()
                    break
        except kubernetes.client.ApiException as e:
            if e.status != 410:
                raise
            obj = get()  # the watch expired: start over from the current state
            rv = None if obj is None else obj["metadata"].get("resourceVersion")
            result = verdict("DELETED" if obj is None else "ADDED", obj or {})
    return result


def allocatable_gpus(kube_or_client) -> int:
    """The sum of every node's allocatable ``nvidia.com/gpu``: an upper bound on parallel GPUs."""
    core = kube_or_client.core if isinstance(kube_or_client, Kube) else k8s().client.CoreV1Api(kube_or_client)
    total = 0
    for node in core.list_node().items:
        allocatable = (node.status.allocatable if node.status else None) or {}
        try:
            total += int(str(allocatable.get(GPU_RESOURCE, "0")))
        except ValueError:
            pass
    return total
