"""The fake OME controller: an InferenceService becomes one engine pod, and its status follows the pod.

Like OME it resolves the ClusterBaseModel and ClusterServingRuntime (auto-selecting a runtime when
none is named), merges the InferenceService's engine runner over the runtime's (lists such as
``command``/``args`` replaced, ``resources`` merged key by key, ``env`` by name), labels the pod
``ome.io/inferenceservice=<name>``, ``component=engine`` plus the InferenceService's labels, and sets
the conditions the seed report shows: ``EngineReady``, ``IngressReady``, ``Ready`` and ``modelStatus``.
When the engine answers, the InferenceService gets ``status.url`` (the in-cluster address) and the
annotation ``autotuner.io/reachable-url`` (where the test process reaches the engine).
"""

from __future__ import annotations

import copy
import secrets
from typing import TYPE_CHECKING, Any

from .kinds import PODS, by_plural
from .kubelet import REACHABLE_URL, is_ready, pods_matching
from .store import NotFound, now

if TYPE_CHECKING:
    from .cluster import Cluster

FINALIZER = "inferenceservice.ome.io/finalizer"
ISVC_LABEL = "ome.io/inferenceservice"


def _condition(type_: str, status: bool, reason: str = "", message: str = "", **extra: Any) -> dict[str, Any]:
    out = {"type": type_, "status": "True" if status else "False", "lastTransitionTime": now(), **extra}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def initializing_status() -> dict[str, Any]:
    """What OME reports while the engine starts (the seed report's status object)."""
    waiting = "Target service not ready for ingress creation"
    return {
        "components": {"engine": {"latestCreatedRevision": "1"}},
        "conditions": [
            _condition("EngineReady", False, "Initializing", "engine component initializing", severity="Info"),
            _condition("IngressReady", False, "ComponentNotReady", waiting),
            _condition("Ready", False, "ComponentNotReady", waiting),
        ],
        "modelStatus": {"modelRevisionStates": {"activeModelState": "", "targetModelState": "Pending"},
                        "transitionStatus": "InProgress"},
        "observedGeneration": 1,
    }


def failed_status(reason: str, message: str, failure_reason: str, transition: str, **failure: Any) -> dict[str, Any]:
    return {
        "components": {"engine": {"latestCreatedRevision": "1"}},
        "conditions": [
            _condition("EngineReady", False, reason, message, severity="Error"),
            _condition("IngressReady", False, "ComponentNotReady", "Target service not ready for ingress creation"),
            _condition("Ready", False, reason, message),
        ],
        "modelStatus": {"modelRevisionStates": {"activeModelState": "FailedToLoad",
                                                "targetModelState": "FailedToLoad"},
                        "transitionStatus": transition,
                        "lastFailureInfo": {"reason": failure_reason, "message": message, "time": now(), **failure}},
        "observedGeneration": 1,
    }


def ready_status(name: str, ns: str) -> dict[str, Any]:
    url = f"http://{name}.{ns}.svc.cluster.local"
    return {
        "url": url,
        "address": {"url": url},
        "components": {"engine": {"latestCreatedRevision": "1", "latestReadyRevision": "1",
                                  "url": f"http://{name}-engine.{ns}.svc.cluster.local"}},
        "conditions": [_condition("EngineReady", True), _condition("IngressReady", True), _condition("Ready", True)],
        "modelStatus": {"modelRevisionStates": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                        "transitionStatus": "UpToDate"},
        "observedGeneration": 1,
    }


def merge_runner(runtime: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(runtime)
    for key, value in override.items():
        if key == "resources":
            res = out.setdefault("resources", {})
            for part, amounts in value.items():
                res[part] = {**(res.get(part) or {}), **amounts} if isinstance(amounts, dict) else amounts
        elif key in ("env", "volumeMounts"):
            merge_key = "name" if key == "env" else "mountPath"
            items = {i[merge_key]: i for i in out.get(key) or []}
            items.update({i[merge_key]: i for i in value})
            out[key] = list(items.values())
        else:
            out[key] = copy.deepcopy(value)
    return out


def model_path(base_model: dict[str, Any]) -> str:
    """The fake has no model storage: point the engine at the model's hub id when it has one."""
    storage = base_model["spec"].get("storage") or {}
    uri = storage.get("storageUri") or ""
    return uri.split("://", 1)[1] if uri.startswith("hf://") else storage.get("path") or uri


class OmeController:
    def __init__(self, cluster: "Cluster"):
        self.cluster = cluster
        self.store = cluster.store
        self.isvcs = by_plural(cluster.crds, "inferenceservices")
        self.runtimes = by_plural(cluster.crds, "clusterservingruntimes")
        self.models = by_plural(cluster.crds, "clusterbasemodels")

    def on_event(self, type_: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if type_ == "ADDED":
            self._reconcile(obj)
        elif type_ == "DELETED" or (meta.get("deletionTimestamp") and FINALIZER in (meta.get("finalizers") or [])):
            for pod in pods_matching(self.store, meta["namespace"], {ISVC_LABEL: meta["name"]}):
                self.cluster.kubelet.delete_pod(meta["namespace"], pod["metadata"]["name"])
            self.store.remove_finalizer(self.isvcs, meta["namespace"], meta["name"], FINALIZER)

    def _set(self, ns: str, name: str, status: dict[str, Any], url: str | None = None) -> None:
        def change(obj: dict[str, Any]) -> None:
            obj["status"] = status
            annotations = obj["metadata"].setdefault("annotations", {})
            if url:
                annotations[REACHABLE_URL] = url
            else:
                annotations.pop(REACHABLE_URL, None)
        try:
            self.store.update(self.isvcs, ns, name, change)
        except NotFound:
            pass

    def _runtime(self, isvc: dict[str, Any]) -> dict[str, Any] | None:
        ref = (isvc["spec"].get("runtime") or {}).get("name")
        if ref:
            return self.store.find(self.runtimes, "", ref)
        runtimes, _ = self.store.list(self.runtimes)
        return next((r for r in runtimes if not r["spec"].get("disabled") and any(
            f.get("autoSelect") for f in r["spec"].get("supportedModelFormats") or [])), None)

    def _reconcile(self, isvc: dict[str, Any]) -> None:
        meta, spec = isvc["metadata"], isvc["spec"]
        ns, name = meta["namespace"], meta["name"]
        self.store.update(self.isvcs, ns, name, lambda o: o["metadata"].setdefault("finalizers", []).append(FINALIZER))
        self._set(ns, name, initializing_status())
        model_name = (spec.get("model") or {}).get("name")
        base_model = self.store.find(self.models, "", model_name) if model_name else None
        if base_model is None:
            message = f'ClusterBaseModel "{model_name}" not found'
            self._set(ns, name, failed_status("BaseModelNotFound", message, "BaseModelNotFound", "InvalidSpec"))
            return
        runtime = self._runtime(isvc)
        if runtime is None or runtime["spec"].get("disabled"):
            ref = (spec.get("runtime") or {}).get("name") or "<auto-select>"
            message = f'ClusterServingRuntime "{ref}" not found or disabled'
            self._set(ns, name, failed_status("RuntimeNotFound", message, "RuntimeNotRecognized", "InvalidSpec"))
            return
        engine_cfg = runtime["spec"].get("engineConfig") or {}
        engine = spec.get("engine") or {}
        container = merge_runner(engine_cfg.get("runner") or {}, engine.get("runner") or {})
        container.setdefault("name", "ome-container")
        labels = {**(engine_cfg.get("labels") or {}), **(meta.get("labels") or {}), **(engine.get("labels") or {}),
                  ISVC_LABEL: name, "component": "engine"}
        pod_spec = {"containers": [container],
                    "volumes": (engine_cfg.get("volumes") or []) + (engine.get("volumes") or []),
                    "tolerations": engine.get("tolerations") or engine_cfg.get("tolerations") or [],
                    "nodeSelector": {**(engine_cfg.get("nodeSelector") or {}), **(engine.get("nodeSelector") or {})}}
        pod_name = f"{name}-engine-{secrets.token_hex(4)}-{secrets.token_hex(3)[:5]}"
        self.cluster.kubelet.create_pod(ns, pod_name, labels, pod_spec, isvc,
                                        env={"MODEL_PATH": model_path(base_model)})
        pod = self.store.find(PODS, ns, pod_name)
        if pod is not None:
            self.pod_changed(pod)

    def pod_changed(self, pod: dict[str, Any], deleted: bool = False) -> None:
        meta = pod["metadata"]
        name = (meta.get("labels") or {}).get(ISVC_LABEL)
        isvc = self.store.find(self.isvcs, meta["namespace"], name) if name else None
        if isvc is None or deleted or isvc["metadata"].get("deletionTimestamp"):
            return
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        terminated = next((s["lastState"]["terminated"] for s in statuses
                           if (s.get("lastState") or {}).get("terminated")), None)
        if terminated is not None:
            last = next((ln for ln in reversed(terminated.get("message", "").splitlines()) if ln.strip()), "")
            message = (f"engine container {pod['spec']['containers'][0]['name']} terminated "
                       f"({terminated['reason']}, exit code {terminated['exitCode']}): {last}")
            self._set(meta["namespace"], name, failed_status(
                "CrashLoopBackOff", message, "ModelLoadFailed", "BlockedByFailedLoad",
                exitCode=terminated["exitCode"], location=meta["name"]))
        elif is_ready(pod):
            port = self.cluster.kubelet.port_of(meta["namespace"], meta["name"])
            self._set(meta["namespace"], name, ready_status(name, meta["namespace"]),
                      url=f"http://127.0.0.1:{port}" if port else None)
