"""Pods in the fake cluster: scheduling on GPU nodes, running the engine container, events, services.

Everything here runs on the controller thread (``Cluster.run_soon``); engine monitors only enqueue.
A pod that asks for more ``nvidia.com/gpu`` than any node has free stays Pending with a
``FailedScheduling`` event, like the real scheduler; a container that exits is left in
``CrashLoopBackOff`` with its last termination (``OOMKilled`` when its output says memory ran out).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from .engines import EngineProcess, UnsupportedCommand, mentions_oom
from .kinds import EVENTS, NODES, PODS, SERVICES
from .server import normalize_quantities
from .store import NotFound, match_labels, now

if TYPE_CHECKING:
    from .cluster import Cluster

GPU = "nvidia.com/gpu"
REACHABLE_URL = "autotuner.io/reachable-url"


def gpu_request(pod: dict[str, Any]) -> int:
    total = 0
    for c in pod["spec"].get("containers") or []:
        res = c.get("resources") or {}
        value = (res.get("limits") or {}).get(GPU, (res.get("requests") or {}).get(GPU, 0))
        total += int(value)
    return total


class Kubelet:
    def __init__(self, cluster: "Cluster"):
        self.cluster = cluster
        self.store = cluster.store
        self.engines: dict[tuple[str, str], EngineProcess] = {}
        self._env: dict[tuple[str, str], dict[str, str]] = {}  # what the controller injects (MODEL_PATH)

    # -- events ------------------------------------------------------------------------------------
    def record(self, pod: dict[str, Any], reason: str, message: str, type_: str = "Normal",
               component: str = "kubelet") -> None:
        meta = pod["metadata"]
        self.store.create(EVENTS, {
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": meta["namespace"]},
            "involvedObject": {"kind": "Pod", "apiVersion": "v1", "name": meta["name"],
                               "namespace": meta["namespace"], "uid": meta.get("uid")},
            "reason": reason, "message": message, "type": type_, "count": 1,
            "firstTimestamp": now(), "lastTimestamp": now(),
            "source": {"component": component}, "reportingComponent": component,
        })

    # -- pods --------------------------------------------------------------------------------------
    def create_pod(self, namespace: str, name: str, labels: dict[str, str], spec: dict[str, Any],
                   owner: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
        pod = {"metadata": {"name": name, "namespace": namespace, "labels": labels,
                            "ownerReferences": [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                                 "name": owner["metadata"]["name"],
                                                 "uid": owner["metadata"]["uid"], "controller": True}]},
               "spec": spec,
               "status": {"phase": "Pending", "conditions": [], "qosClass": "Burstable"}}
        normalize_quantities(pod)
        pod = self.store.create(PODS, pod)
        self._env[(namespace, name)] = env or {}
        self.schedule(pod)
        return pod

    def _free_gpus(self) -> dict[str, int]:
        nodes, _ = self.store.list(NODES)
        free = {n["metadata"]["name"]: int((n["status"].get("allocatable") or {}).get(GPU, 0)) for n in nodes}
        pods, _ = self.store.list(PODS)
        for p in pods:
            node = p["spec"].get("nodeName")
            if node in free and not p["metadata"].get("deletionTimestamp"):
                free[node] -= gpu_request(p)
        return free

    def schedule(self, pod: dict[str, Any]) -> None:
        need = gpu_request(pod)
        free = self._free_gpus()
        node = next((n for n, gpus in free.items() if gpus >= need), None)
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if node is None:
            message = (f"0/{len(free)} nodes are available: {len(free)} Insufficient {GPU}. preemption: "
                       f"0/{len(free)} nodes are available: {len(free)} No preemption victims found for "
                       "incoming pod.")
            self._set_status(ns, name, phase="Pending", conditions=[
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                 "lastTransitionTime": now()}])
            self.record(pod, "FailedScheduling", message, "Warning", "default-scheduler")
            return
        self.store.update(PODS, ns, name, lambda p: p["spec"].__setitem__("nodeName", node))
        self.record(pod, "Scheduled", f"Successfully assigned {ns}/{name} to {node}", component="default-scheduler")
        self._start(self.store.get(PODS, ns, name))

    def reschedule_pending(self) -> None:
        pods, _ = self.store.list(PODS)
        for pod in pods:
            if not pod["spec"].get("nodeName") and not pod["metadata"].get("deletionTimestamp"):
                self.schedule(pod)

    def _start(self, pod: dict[str, Any]) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]
        env = {e["name"]: e.get("value", "") for e in container.get("env") or [] if "value" in e}
        env.update(self._env.get((ns, name), {}))
        log_path = self.cluster.log_dir / f"{ns}_{name}.log"
        self._set_status(ns, name, phase="Pending", conditions=self._conditions(True, False),
                         containerStatuses=[self._container_status(container, waiting="ContainerCreating")])
        try:
            engine = EngineProcess(container, env, log_path,
                                   on_ready=lambda: self.cluster.run_soon(self._ready, ns, name),
                                   on_exit=lambda code, tail: self.cluster.run_soon(self._exited, ns, name, code, tail))
        except UnsupportedCommand as e:
            self._exited(ns, name, 127, str(e))
            return
        self.engines[(ns, name)] = engine
        self.record(pod, "Pulled", f'Container image "{container.get("image")}" already present on machine')
        self.record(pod, "Created", f"Created container {container['name']}")
        self.record(pod, "Started", f"Started container {container['name']}")
        self._set_status(ns, name, phase="Running", podIP="127.0.0.1", hostIP="127.0.0.1",
                         containerStatuses=[self._container_status(container, running=True)])

    def _ready(self, ns: str, name: str) -> None:
        pod = self.store.find(PODS, ns, name)
        if pod is None:
            return
        container = pod["spec"]["containers"][0]
        self._set_status(ns, name, conditions=self._conditions(True, True),
                         containerStatuses=[self._container_status(container, running=True, ready=True)])
        self.cluster.pod_changed(self.store.get(PODS, ns, name))

    def _exited(self, ns: str, name: str, code: int, tail: str) -> None:
        pod = self.store.find(PODS, ns, name)
        if pod is None:
            return
        container = pod["spec"]["containers"][0]
        oom = mentions_oom(tail)
        reason = "OOMKilled" if oom else "Error"
        last = next((line for line in reversed(tail.splitlines()) if line.strip()), f"exit code {code}")
        status = self._container_status(container, waiting="CrashLoopBackOff")
        status["lastState"] = {"terminated": {"exitCode": code, "reason": reason, "message": tail[-2000:],
                                              "finishedAt": now()}}
        status["restartCount"] = 1
        self._set_status(ns, name, phase="Running", conditions=self._conditions(True, False),
                         containerStatuses=[status])
        if oom:
            self.record(pod, "OOMKilled", f"Container {container['name']} ran out of memory: {last}", "Warning")
        self.record(pod, "BackOff", f"Back-off restarting failed container {container['name']} in pod "
                                    f"{name}_{ns}({pod['metadata']['uid']}) (CrashLoopBackOff): {last}", "Warning")
        self.cluster.pod_changed(self.store.get(PODS, ns, name))

    def delete_pod(self, ns: str, name: str) -> None:
        engine = self.engines.pop((ns, name), None)
        if engine is not None:
            engine.stop()
        self._env.pop((ns, name), None)
        try:
            pod = self.store.delete(PODS, ns, name)
        except NotFound:
            return
        self.cluster.pod_changed(pod, deleted=True)
        self.reschedule_pending()

    def stop_all(self) -> None:
        for engine in list(self.engines.values()):
            engine.stop(grace=2.0)
        self.engines.clear()

    def log_text(self, ns: str, name: str) -> str | None:
        engine = self.engines.get((ns, name))
        if engine is not None:
            return engine.log_path.read_text(errors="replace")
        path = self.cluster.log_dir / f"{ns}_{name}.log"
        return path.read_text(errors="replace") if path.exists() else None

    def port_of(self, ns: str, name: str) -> int | None:
        engine = self.engines.get((ns, name))
        return engine.port if engine is not None and engine.proc.poll() is None else None

    # -- services: a ready pod behind a service makes the service reachable ------------------------
    def refresh_services(self, ns: str) -> None:
        services, _ = self.store.list(SERVICES, ns)
        pods, _ = self.store.list(PODS, ns)
        for svc in services:
            selector = svc["spec"].get("selector") or {}
            url = None
            for pod in pods:
                labels = pod["metadata"].get("labels") or {}
                port = self.port_of(ns, pod["metadata"]["name"])
                if selector and all(labels.get(k) == v for k, v in selector.items()) and is_ready(pod) and port:
                    url = f"http://127.0.0.1:{port}"
                    break
            if (svc["metadata"].get("annotations") or {}).get(REACHABLE_URL) != url:
                def annotate(obj: dict[str, Any], url: str | None = url) -> None:
                    annotations = obj["metadata"].setdefault("annotations", {})
                    if url:
                        annotations[REACHABLE_URL] = url
                    else:
                        annotations.pop(REACHABLE_URL, None)
                self.store.update(SERVICES, ns, svc["metadata"]["name"], annotate)

    # -- helpers -----------------------------------------------------------------------------------
    def _set_status(self, ns: str, name: str, **fields: Any) -> None:
        try:
            self.store.update(PODS, ns, name, lambda p: p["status"].update(fields))
        except NotFound:
            pass

    @staticmethod
    def _conditions(scheduled: bool, ready: bool) -> list[dict[str, Any]]:
        t = now()
        return [{"type": "PodScheduled", "status": str(scheduled), "lastTransitionTime": t},
                {"type": "Initialized", "status": "True", "lastTransitionTime": t},
                {"type": "ContainersReady", "status": str(ready), "lastTransitionTime": t},
                {"type": "Ready", "status": str(ready), "lastTransitionTime": t}]

    @staticmethod
    def _container_status(container: dict[str, Any], waiting: str | None = None, running: bool = False,
                          ready: bool = False) -> dict[str, Any]:
        state: dict[str, Any] = {"waiting": {"reason": waiting}} if waiting else {}
        if running:
            state = {"running": {"startedAt": now()}}
        return {"name": container["name"], "image": container.get("image", ""), "imageID": "",
                "ready": ready, "started": running, "restartCount": 0, "state": state}


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def pods_matching(store, ns: str, selector: dict[str, str]) -> list[dict[str, Any]]:
    pods, _ = store.list(PODS, ns)
    return [p for p in pods if match_labels(p["metadata"].get("labels") or {},
                                            ",".join(f"{k}={v}" for k, v in selector.items()))]
