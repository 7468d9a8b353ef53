"""Read OME's ClusterServingRuntime and ClusterBaseModel objects, when a cluster is reachable.

A seed task names these objects instead of an engine and a model; the cluster that holds them is the
best authority on what they run. No cluster configuration, or no answer within a few seconds, means
"unknown here" and the importer falls back to the names it knows.
"""

from __future__ import annotations

from typing import Any, Protocol

OME_GROUP, OME_VERSION = "ome.io", "v1beta1"
_TIMEOUT_SECONDS = 3


class ClusterCatalog(Protocol):
    def runtime(self, name: str) -> dict[str, Any] | None: ...

    def base_model(self, name: str) -> dict[str, Any] | None: ...


class NoCluster:
    """The answer when no cluster is configured: nothing is known."""

    def runtime(self, name: str) -> None:
        return None

    def base_model(self, name: str) -> None:
        return None


class OmeCluster:
    """Cluster-scoped OME objects through the Kubernetes API (``None`` when absent or unreachable)."""

    def __init__(self, custom_api):
        self.custom = custom_api
        self.reachable = True

    def _get(self, plural: str, name: str) -> dict[str, Any] | None:
        if not self.reachable:
            return None
        try:
            return self.custom.get_cluster_custom_object(OME_GROUP, OME_VERSION, plural, name,
                                                         _request_timeout=_TIMEOUT_SECONDS)
        except Exception as e:  # 404: not there; anything else: treat the cluster as out of reach
            if getattr(e, "status", None) != 404:
                self.reachable = False
            return None

    def runtime(self, name: str) -> dict[str, Any] | None:
        return self._get("clusterservingruntimes", name)

    def base_model(self, name: str) -> dict[str, Any] | None:
        return self._get("clusterbasemodels", name)


def connect() -> ClusterCatalog:
    """The configured cluster ($KUBECONFIG, ~/.kube/config, or the pod's account), else ``NoCluster``."""
    try:
        from ..deploy.kubernetes.client import Kube
        from ..deploy.kubernetes.options import KubernetesOptions
        return OmeCluster(Kube.connect(KubernetesOptions()).custom)
    except Exception:  # no kubernetes package or no configuration: nothing to ask
        return NoCluster()


def runtime_engine(runtime: dict[str, Any]) -> str | None:
    """The engine a ClusterServingRuntime starts: the launcher in its container command or image."""
    from .seed_presets import engine_word
    spec = runtime.get("spec") or {}
    containers = [(spec.get("engineConfig") or {}).get("runner") or {}, *(spec.get("containers") or [])]
    for container in containers:
        words = [*(container.get("command") or []), *(container.get("args") or []), container.get("image", "")]
        for word in words:
            text = str(word).lower()
            if "sglang" in text:
                return "sglang"
            if "vllm" in text:
                return "vllm"
            if "llama-server" in text or "llama.cpp" in text:
                return "llamacpp"
    return engine_word((runtime.get("metadata") or {}).get("name", ""))


def base_model_id(model: dict[str, Any]) -> str | None:
    """A ClusterBaseModel's Hugging Face id, from its ``hf://`` storage URI."""
    uri = ((model.get("spec") or {}).get("storage") or {}).get("storageUri", "")
    return uri.removeprefix("hf://") if uri.startswith("hf://") else None
