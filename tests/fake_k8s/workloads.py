"""The built-in controllers the fake needs: Deployments run one pod per replica, Services get a
cluster IP, and a deleted Namespace takes everything in it along before it goes."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from .kinds import DEPLOYMENTS, NAMESPACES, PODS, SERVICES
from .kubelet import is_ready
from .store import NotFound, now

if TYPE_CHECKING:
    from .cluster import Cluster

NAMESPACE_FINALIZER = "kubernetes"


class DeploymentController:
    def __init__(self, cluster: "Cluster"):
        self.cluster = cluster
        self.store = cluster.store

    def on_event(self, type_: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        ns, name = meta["namespace"], meta["name"]
        if type_ == "ADDED":
            template = obj["spec"]["template"]
            digest = hashlib.sha1(repr(template).encode()).hexdigest()[:10]
            labels = {**(template.get("metadata") or {}).get("labels", {}), "pod-template-hash": digest}
            for _ in range(int(obj["spec"].get("replicas", 1))):
                pod_name = f"{name}-{digest}-{secrets.token_hex(3)[:5]}"
                self.cluster.kubelet.create_pod(ns, pod_name, labels, dict(template["spec"]), obj)
            self.refresh(ns, name)
        elif type_ == "DELETED":  # the garbage collector removes what the Deployment owned
            for pod in self.owned(ns, meta["uid"]):
                self.cluster.kubelet.delete_pod(ns, pod["metadata"]["name"])

    def owned(self, ns: str, uid: str) -> list[dict[str, Any]]:
        pods, _ = self.store.list(PODS, ns)
        return [p for p in pods if any(o.get("uid") == uid for o in p["metadata"].get("ownerReferences") or [])]

    def refresh(self, ns: str, name: str) -> None:
        try:
            deployment = self.store.get(DEPLOYMENTS, ns, name)
        except NotFound:
            return
        pods = self.owned(ns, deployment["metadata"]["uid"])
        ready = sum(is_ready(p) for p in pods)
        wanted = int(deployment["spec"].get("replicas", 1))
        available = ready >= wanted
        status = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": len(pods), "updatedReplicas": len(pods), "readyReplicas": ready,
            "availableReplicas": ready, "unavailableReplicas": max(wanted - ready, 0),
            "conditions": [
                {"type": "Available", "status": str(available),
                 "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                 "message": "Deployment has minimum availability." if available
                 else "Deployment does not have minimum availability.",
                 "lastUpdateTime": now(), "lastTransitionTime": now()},
                {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                 "message": f'ReplicaSet "{name}" is progressing.', "lastUpdateTime": now(),
                 "lastTransitionTime": now()},
            ],
        }
        if deployment.get("status") != status:
            self.store.update(DEPLOYMENTS, ns, name, lambda o: o.__setitem__("status", status))

    def pod_changed(self, pod: dict[str, Any]) -> None:
        ns = pod["metadata"]["namespace"]
        deployments, _ = self.store.list(DEPLOYMENTS, ns)
        for owner in pod["metadata"].get("ownerReferences") or []:
            for d in deployments:
                if d["metadata"]["uid"] == owner.get("uid"):
                    self.refresh(ns, d["metadata"]["name"])


class ServiceController:
    def __init__(self, cluster: "Cluster"):
        self.cluster = cluster
        self._next_ip = 10

    def on_event(self, type_: str, obj: dict[str, Any]) -> None:
        if type_ != "ADDED":
            return
        meta = obj["metadata"]
        self._next_ip += 1
        ip = f"10.96.0.{self._next_ip % 250 + 2}"
        try:
            self.cluster.store.update(SERVICES, meta["namespace"], meta["name"],
                                      lambda o: o["spec"].setdefault("clusterIP", ip))
        except NotFound:
            return
        self.cluster.kubelet.refresh_services(meta["namespace"])


class NamespaceController:
    """A deleted namespace is Terminating until everything in it is gone."""

    def __init__(self, cluster: "Cluster"):
        self.cluster = cluster
        self.store = cluster.store

    def on_event(self, type_: str, obj: dict[str, Any]) -> None:
        if type_ == "MODIFIED" and obj["metadata"].get("deletionTimestamp"):
            self.empty(obj["metadata"]["name"])

    def empty(self, ns: str) -> None:
        for resource in self.cluster.namespaced_resources():
            items, _ = self.store.list(resource, ns)
            for item in items:
                if resource == PODS:
                    self.cluster.kubelet.delete_pod(ns, item["metadata"]["name"])
                    continue
                try:
                    self.store.delete(resource, ns, item["metadata"]["name"])
                except NotFound:
                    pass
        self.finish_if_empty(ns)

    def finish_if_empty(self, ns: str) -> None:
        namespace = self.store.find(NAMESPACES, "", ns)
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return
        if any(self.store.list(r, ns)[0] for r in self.cluster.namespaced_resources()):
            return
        self.store.remove_finalizer(NAMESPACES, "", ns, NAMESPACE_FINALIZER)
