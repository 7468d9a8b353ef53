"""``kubernetes.mode: ome``: one OME InferenceService per experiment.

Before the first experiment the deployer makes sure the namespace exists, creates the preset
ClusterBaseModel / ClusterServingRuntime when asked (or checks the named ones exist) and reads the
runtime's engine runner: each experiment's InferenceService carries that runner's command with the
experiment's flags merged over it (``manifests.engine_runner``), so every experiment really runs
its own configuration. Readiness is the InferenceService's ``Ready`` condition, failure its
``modelStatus`` (``FailedToLoad``, ``BlockedByFailedLoad``, ``InvalidSpec``) or a dead engine pod.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base import DeploymentError, LaunchSpec, mentions_oom
from .config_files import refuse_files
from . import presets
from .client import Kube, api_message, api_status, in_cluster
from .diagnostics import describe_conditions
from .lifecycle import READY, Failed, KubeDeployer
from .manifests import inference_service, ome_refs
from .options import MANAGED_BY, MANAGED_BY_VALUE, OME_GROUP, OME_VERSION, REACHABLE_URL_ANNOTATION, TASK_LABEL, \
    label_value
from .portforward import PortForwarder

if TYPE_CHECKING:  # a type only: the task spec names the deployers (deploy.registry)
    from ...spec.task import Task

ISVC_LABEL = "ome.io/inferenceservice"
_PLURALS = {"InferenceService": "inferenceservices", "ClusterServingRuntime": "clusterservingruntimes",
            "ClusterBaseModel": "clusterbasemodels"}


def ensure_namespace(kube: Kube, namespace: str) -> None:
    try:
        kube.core.read_namespace(namespace)
        return
    except Exception as e:
        if api_status(e) != 404:
            raise DeploymentError("unavailable", f"cannot read namespace {namespace}: {api_message(e)}") from None
    try:
        kube.core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": namespace, "labels": {MANAGED_BY: MANAGED_BY_VALUE}}})
    except Exception as e:
        if api_status(e) != 409:
            raise DeploymentError("unavailable", f"namespace {namespace} does not exist and cannot be created: "
                                  f"{api_message(e)}") from None


class OmeDeployer(KubeDeployer):
    def __init__(self, task: Task, log_dir: Path, kube: Kube | None = None):
        super().__init__(task, log_dir, kube)
        self.refs = ome_refs(task, self.options)
        self.runtime_runner: dict[str, Any] | None = None

    # -- cluster objects ---------------------------------------------------------------------------
    def _get_cluster(self, plural: str, name: str) -> dict[str, Any] | None:
        try:
            return self.kube.custom.get_cluster_custom_object(OME_GROUP, OME_VERSION, plural, name)
        except Exception as e:
            if api_status(e) == 404:
                return None
            raise DeploymentError("unavailable", f"cannot read {plural} {name}: {api_message(e)}") from None

    def _ensure_preset(self, obj: dict[str, Any]) -> None:
        plural, name = _PLURALS[obj["kind"]], obj["metadata"]["name"]
        existing = self._get_cluster(plural, name)
        try:
            if existing is None:
                for dry in ("All", None):
                    self.kube.custom.create_cluster_custom_object(OME_GROUP, OME_VERSION, plural, obj, dry_run=dry,
                                                                  field_validation="Strict")
                return
            labels = existing["metadata"].get("labels") or {}
            if labels.get(TASK_LABEL) != label_value(self.task.name) or labels.get(MANAGED_BY) != MANAGED_BY_VALUE:
                option = "base_model" if plural == "clusterbasemodels" else "runtime"
                raise DeploymentError("unavailable", f"{obj['kind']} {name} exists and was not created for task "
                                      f"{self.task.name}; name it in kubernetes.{option} instead")
            if existing.get("spec") != obj["spec"]:  # the task changed (image, shm...): bring the preset along
                body = {**obj, "metadata": {**obj["metadata"],
                                            "resourceVersion": existing["metadata"]["resourceVersion"]}}
                self.kube.custom.replace_cluster_custom_object(OME_GROUP, OME_VERSION, plural, name, body,
                                                               field_validation="Strict")
        except DeploymentError:
            raise
        except Exception as e:
            raise DeploymentError("unavailable", f"cannot create {obj['kind']} {name}: {api_message(e)}") from None

    def prepare(self) -> None:
        ensure_namespace(self.kube, self.options.namespace)
        if self.refs.create_model:
            self._ensure_preset(presets.base_model(self.task, self.options))
        if self.refs.create_runtime:
            self._ensure_preset(presets.serving_runtime(self.task, self.options))
        if self._get_cluster("clusterbasemodels", self.refs.base_model) is None:
            raise DeploymentError("unavailable", f"ClusterBaseModel {self.refs.base_model} does not exist; set "
                                  "kubernetes.base_model to an existing one or kubernetes.create_presets: true")
        runtime = self._get_cluster("clusterservingruntimes", self.refs.runtime)
        if runtime is None:
            raise DeploymentError("unavailable", f"ClusterServingRuntime {self.refs.runtime} does not exist; set "
                                  "kubernetes.runtime to an existing one or kubernetes.create_presets: true")
        runner = ((runtime.get("spec") or {}).get("engineConfig") or {}).get("runner")
        if not runner:
            raise DeploymentError("unavailable", f"ClusterServingRuntime {self.refs.runtime} has no "
                                  "spec.engineConfig.runner to merge the experiments' arguments over")
        self.runtime_runner = runner

    # -- the experiment ----------------------------------------------------------------------------
    def manifests(self, spec: LaunchSpec, name: str) -> list[dict[str, Any]]:
        if self.runtime_runner is None:
            raise ValueError("the deployer was not prepared")
        refuse_files(spec)
        return [inference_service(self.task, self.options, spec, name, self.refs, self.runtime_runner)]

    def create(self, obj: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        return self.kube.custom.create_namespaced_custom_object(
            OME_GROUP, OME_VERSION, self.options.namespace, "inferenceservices", obj,
            dry_run="All" if dry_run else None, field_validation="Strict")

    def get_main(self, rname: str) -> dict[str, Any] | None:
        try:
            return self.kube.custom.get_namespaced_custom_object(OME_GROUP, OME_VERSION, self.options.namespace,
                                                                 "inferenceservices", rname)
        except Exception as e:
            if api_status(e) == 404:
                return None
            raise

    def watch_main(self) -> tuple[Any, tuple]:
        return (self.kube.custom.list_namespaced_custom_object,
                (OME_GROUP, OME_VERSION, self.options.namespace, "inferenceservices"))

    def verdict(self, event_type: str, obj: dict[str, Any]) -> Any:
        if event_type == "DELETED":
            return Failed("crash", "the InferenceService was deleted while the engine was starting")
        status = obj.get("status") or {}
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []):
            return READY
        model = status.get("modelStatus") or {}
        states = model.get("modelRevisionStates") or {}
        if model.get("transitionStatus") in ("BlockedByFailedLoad", "InvalidSpec") or \
                states.get("activeModelState") == "FailedToLoad":
            text = "\n".join(describe_conditions(obj))
            reason = "oom" if mentions_oom(text) else ("unavailable" if model.get("transitionStatus") == "InvalidSpec"
                                                        else "crash")
            return Failed(reason, "OME reports that the engine failed")
        return None

    def endpoint_url(self, rname: str, main: dict[str, Any]) -> tuple[str, PortForwarder | None]:
        mode = self.options.endpoint
        annotation = (main.get("metadata", {}).get("annotations") or {}).get(REACHABLE_URL_ANNOTATION)
        if mode == "auto":
            if annotation:
                return annotation.rstrip("/"), None
            mode = "in-cluster" if in_cluster() else "port-forward"
        ns = self.options.namespace
        if mode == "in-cluster":
            status = main.get("status") or {}
            url = ((status.get("address") or {}).get("url") or status.get("url")
                   or f"http://{rname}.{ns}.svc.cluster.local")
            return url.rstrip("/"), None
        pods = self.kube.core.list_namespaced_pod(ns, label_selector=f"{ISVC_LABEL}={rname},component=engine")
        ready = [p for p in pods.items if any(c.type == "Ready" and c.status == "True"
                                              for c in (p.status.conditions or []))]
        if not ready:
            raise Failed("unavailable", f"no ready engine pod of InferenceService {rname} to port-forward to")
        container = ready[0].spec.containers[0]
        port = container.ports[0].container_port if container.ports else presets.ENGINE_PORT
        forwarder = PortForwarder(self.kube, ns, ready[0].metadata.name, port)
        return forwarder.url, forwarder

    def delete_objects(self, rname: str) -> list[tuple[Any, tuple[Any, tuple, str]]]:
        try:
            self.kube.custom.delete_namespaced_custom_object(OME_GROUP, OME_VERSION, self.options.namespace,
                                                             "inferenceservices", rname)
        except Exception as e:
            if api_status(e) != 404:
                raise
        return [(lambda: self.get_main(rname), (*self.watch_main(), rname))]

    def list_task_objects(self) -> list[dict[str, Any]]:
        return self.kube.custom.list_namespaced_custom_object(
            OME_GROUP, OME_VERSION, self.options.namespace, "inferenceservices",
            label_selector=self.task_selector()).get("items", [])
