"""ClusterBaseModel and ClusterServingRuntime presets for SGLang, vLLM and TensorRT-LLM, modelled on OME's samples.

The tuner creates them (``kubernetes.create_presets: true``) when the cluster has no model or
runtime to name; each is named after the task and labelled with it, so that ``autotuner cleanup``
finds exactly what this task created (see ``cleanup.py``: the labels are the record).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..docker_images import image_ref
from .options import OME_GROUP, OME_VERSION, KubernetesOptions, dns_name, owner_labels

if TYPE_CHECKING:  # a type only: the task spec names the deployers (deploy.registry)
    from ...spec.task import Task

ENGINE_PORT = 8080
# The runtime's flags besides the experiment's (which are merged over them per experiment).
_PRESET_FLAGS = {
    "sglang": ["--host", "0.0.0.0", "--port", str(ENGINE_PORT), "--enable-metrics",
               "--model-path", "$(MODEL_PATH)"],
    "vllm": ["--host", "0.0.0.0", "--port", str(ENGINE_PORT), "--model", "$(MODEL_PATH)"],
    "trtllm": ["--host", "0.0.0.0", "--port", str(ENGINE_PORT)],
}
_LAUNCHERS = {"sglang": ["python3", "-m", "sglang.launch_server"],
              "vllm": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
              "trtllm": ["trtllm-serve", "$(MODEL_PATH)"]}  # MODEL is trtllm-serve's positional argument
# trtllm-serve has no served-name flag: it serves the model under the path it was given
_SERVED_NAME_FLAG = {"sglang": "--served-model-name", "vllm": "--served-model-name"}
# SGLang answers /health_generate only once it can generate; vLLM's /health means the same.
_READY_PATHS = {"sglang": "/health_generate", "vllm": "/health", "trtllm": "/health"}
KUBERNETES_ENGINES = tuple(_READY_PATHS)  # the engines a serving-runtime preset exists for


def preset_model_name(task: Task) -> str:
    return dns_name(f"{task.name}-model", 63)


def preset_runtime_name(task: Task) -> str:
    return dns_name(f"{task.name}-{task.engine}", 63)


def _metadata(task: Task, name: str) -> dict[str, Any]:
    return {"name": name, "labels": owner_labels(task.name)}


def base_model(task: Task, options: KubernetesOptions) -> dict[str, Any]:
    """A ClusterBaseModel that OME downloads from the Hugging Face Hub (``hf://<model id>``)."""
    model_id = task.model.id
    storage: dict[str, Any] = {
        "storageUri": f"hf://{model_id}",
        "path": options.model_path or f"/raid/models/{re.sub(r'[^A-Za-z0-9._-]+', '-', model_id).lower()}",
    }
    if options.hf_token_secret:
        storage["key"] = options.hf_token_secret
    return {
        "apiVersion": f"{OME_GROUP}/{OME_VERSION}",
        "kind": "ClusterBaseModel",
        "metadata": _metadata(task, preset_model_name(task)),
        "spec": {
            "modelCapabilities": ["TEXT_TO_TEXT"],
            "displayName": model_id,
            "vendor": model_id.split("/", 1)[0] if "/" in model_id else "unknown",
            "disabled": False,
            "version": "1.0.0",
            "storage": storage,
        },
    }


def _probe(path: str, **timing: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": ENGINE_PORT}, **timing}


def runtime_runner(engine: str, image: str, served_name: str) -> dict[str, Any]:
    """The engine container of a runtime: launcher and flags in ``command`` like OME's samples."""
    ready = _READY_PATHS[engine]
    return {
        "name": "ome-container",
        "image": image,
        "ports": [{"containerPort": ENGINE_PORT, "name": "http1", "protocol": "TCP"}],
        "command": [*_LAUNCHERS[engine], *_PRESET_FLAGS[engine],
                    *([_SERVED_NAME_FLAG[engine], served_name] if engine in _SERVED_NAME_FLAG else [])],
        "volumeMounts": [{"mountPath": "/dev/shm", "name": "dshm"}],
        "resources": {"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 1}},
        "readinessProbe": _probe(ready, failureThreshold=3, successThreshold=1, periodSeconds=10,
                                 timeoutSeconds=60),
        "livenessProbe": _probe("/health", failureThreshold=5, successThreshold=1, periodSeconds=60,
                                timeoutSeconds=60),
        "startupProbe": _probe(ready, failureThreshold=150, successThreshold=1, periodSeconds=6,
                               initialDelaySeconds=10, timeoutSeconds=30),
    }


def serving_runtime(task: Task, options: KubernetesOptions) -> dict[str, Any]:
    """A ClusterServingRuntime for the task's engine; experiments override its runner's flags."""
    image = options.image or image_ref(task.engine, task.engine_version)
    return {
        "apiVersion": f"{OME_GROUP}/{OME_VERSION}",
        "kind": "ClusterServingRuntime",
        "metadata": _metadata(task, preset_runtime_name(task)),
        "spec": {
            "disabled": False,
            "supportedModelFormats": [{
                "modelFramework": {"name": "transformers"},
                "modelFormat": {"name": "safetensors", "version": "1.0.0"},
                "autoSelect": False,
                "priority": 1,
            }],
            "protocolVersions": ["openAI"],
            "engineConfig": {
                "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(ENGINE_PORT),
                                "prometheus.io/path": "/metrics"},
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": options.shm_size}}],
                "runner": runtime_runner(task.engine, image, task.model.name),
            },
        },
    }
