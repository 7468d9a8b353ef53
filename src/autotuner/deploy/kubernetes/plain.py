"""``kubernetes.mode: deployment``: a plain Deployment (one replica) and a Service per experiment,
for clusters without OME. Ready when the Deployment reports a ready replica."""

from __future__ import annotations

from typing import Any

from ..base import LaunchSpec
from .client import api_status, in_cluster
from .config_files import refuse_files
from .lifecycle import READY, Failed, KubeDeployer
from .manifests import plain_deployment, plain_service
from .ome import ensure_namespace
from .options import REACHABLE_URL_ANNOTATION
from .portforward import PortForwarder


class PlainDeployer(KubeDeployer):
    def prepare(self) -> None:
        ensure_namespace(self.kube, self.options.namespace)

    def manifests(self, spec: LaunchSpec, name: str) -> list[dict[str, Any]]:
        refuse_files(spec)
        return [plain_deployment(self.task, self.options, spec, name),
                plain_service(self.task, self.options, spec, name)]

    def create(self, obj: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        kwargs = {"dry_run": "All" if dry_run else None, "field_validation": "Strict"}
        if obj["kind"] == "Deployment":
            return self.kube.apps.create_namespaced_deployment(self.options.namespace, obj, **kwargs)
        return self.kube.core.create_namespaced_service(self.options.namespace, obj, **kwargs)

    def _read(self, read, rname: str) -> dict[str, Any] | None:
        try:
            return self.kube.as_dict(read(rname, self.options.namespace))
        except Exception as e:
            if api_status(e) == 404:
                return None
            raise

    def get_main(self, rname: str) -> dict[str, Any] | None:
        return self._read(self.kube.apps.read_namespaced_deployment, rname)

    def get_service(self, rname: str) -> dict[str, Any] | None:
        return self._read(self.kube.core.read_namespaced_service, rname)

    def watch_main(self) -> tuple[Any, tuple]:
        return self.kube.apps.list_namespaced_deployment, (self.options.namespace,)

    def verdict(self, event_type: str, obj: dict[str, Any]) -> Any:
        if event_type == "DELETED":
            return Failed("crash", "the Deployment was deleted while the engine was starting")
        status = obj.get("status") or {}
        if (status.get("readyReplicas") or 0) >= 1 and \
                (status.get("observedGeneration") or 0) >= obj["metadata"].get("generation", 1):
            return READY
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
                return Failed("timeout", f"the Deployment exceeded its progress deadline: {cond.get('message')}")
        return None

    def endpoint_url(self, rname: str, main: dict[str, Any]) -> tuple[str, PortForwarder | None]:
        service = self.get_service(rname) or {}
        port = ((service.get("spec") or {}).get("ports") or [{}])[0].get("port", 80)
        mode = self.options.endpoint
        if mode == "auto":
            annotation = (service.get("metadata", {}).get("annotations") or {}).get(REACHABLE_URL_ANNOTATION)
            if annotation:
                return annotation.rstrip("/"), None
            mode = "in-cluster" if in_cluster() else "port-forward"
        if mode == "in-cluster":
            return f"http://{rname}.{self.options.namespace}.svc.cluster.local:{port}", None
        labels = (main.get("spec") or {}).get("selector", {}).get("matchLabels") or {}
        pods = self.kube.core.list_namespaced_pod(self.options.namespace,
                                                  label_selector=",".join(f"{k}={v}" for k, v in labels.items()))
        ready = [p for p in pods.items if any(c.type == "Ready" and c.status == "True"
                                              for c in (p.status.conditions or []))]
        if not ready:
            raise Failed("unavailable", f"no ready pod of Deployment {rname} to port-forward to")
        container = ready[0].spec.containers[0]
        target = container.ports[0].container_port if container.ports else port
        forwarder = PortForwarder(self.kube, self.options.namespace, ready[0].metadata.name, target)
        return forwarder.url, forwarder

    def delete_objects(self, rname: str) -> list[tuple[Any, tuple[Any, tuple, str]]]:
        ns = self.options.namespace
        waits = []
        for delete, get, watch in (
                (self.kube.apps.delete_namespaced_deployment, self.get_main, self.kube.apps.list_namespaced_deployment),
                (self.kube.core.delete_namespaced_service, self.get_service, self.kube.core.list_namespaced_service)):
            try:
                delete(rname, ns, propagation_policy="Background")
            except Exception as e:
                if api_status(e) != 404:
                    raise
            waits.append((lambda get=get: get(rname), (watch, (ns,), rname)))
        return waits

    def list_task_objects(self) -> list[dict[str, Any]]:
        items = self.kube.apps.list_namespaced_deployment(self.options.namespace,
                                                          label_selector=self.task_selector()).items
        return [{**self.kube.as_dict(d), "kind": "Deployment"} for d in items]
