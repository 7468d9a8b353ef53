"""The manifests one experiment applies: an OME InferenceService, or a plain Deployment + Service.

``render(task, params)`` shows them without a cluster (``autotuner render``); the deployers build the
same objects through the same functions, with the runtime read from the cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...engines import get_adapter
from ...engines.launch import engine_config
from ..base import LaunchSpec
from ..docker_images import image_ref
from . import presets
from .config_files import config_map, mount_files
from .argv import EngineCommand, engine_of_launcher, merge_flags, split_launch_spec, split_launcher
from .options import (OME_GROUP, OME_VERSION, KubernetesOptions, dns_name, owner_labels, parse_options)

if TYPE_CHECKING:  # a type only: the task spec names the deployers (deploy.registry)
    from ...spec.task import Task

GPU_RESOURCE = "nvidia.com/gpu"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass
class OmeRefs:
    """Which ClusterBaseModel and ClusterServingRuntime an experiment uses, and which the tuner creates."""
    base_model: str
    runtime: str
    create_model: bool
    create_runtime: bool


def ome_refs(task: Task, options: KubernetesOptions) -> OmeRefs:
    model = options.base_model
    runtime = options.runtime
    create_model = create_runtime = False
    if model is None:
        if options.create_presets:
            model, create_model = presets.preset_model_name(task), True
        elif _DNS_SUBDOMAIN.match(task.model.id) and len(task.model.id) <= 253:
            model = task.model.id  # seed tasks name the ClusterBaseModel as their model
        else:
            raise ValueError(f"kubernetes.base_model: name the ClusterBaseModel serving {task.model.id!r} "
                             "(the model id is not a Kubernetes name), or set kubernetes.create_presets: true")
    if runtime is None:
        if not options.create_presets:
            raise ValueError("kubernetes.runtime: name the ClusterServingRuntime to run the engine with, "
                             "or set kubernetes.create_presets: true")
        runtime, create_runtime = presets.preset_runtime_name(task), True
    return OmeRefs(model, runtime, create_model, create_runtime)


def launch_spec_for(task: Task, params: dict[str, Any], simulate: dict[str, Any] | None = None) -> LaunchSpec:
    """The experiment's launch spec, as the tuner builds it: fixed args overridden by the trial's."""
    adapter = get_adapter(task.engine)
    return adapter.launch_spec(task.model.id, task.model.name, engine_config(task, params), simulate)


def _gpus(count: int) -> dict[str, Any]:
    return {"requests": {GPU_RESOURCE: str(count)}, "limits": {GPU_RESOURCE: str(count)}}


def _experiment_flags(command: EngineCommand, served_name: str) -> list[str]:
    flags = list(command.flags)
    if command.engine in ("sglang", "vllm") and "--served-model-name" not in flags:
        flags += ["--served-model-name", served_name]
    return flags


def engine_runner(spec: LaunchSpec, runtime_runner: dict[str, Any], image: str | None = None) -> dict[str, Any]:
    """The InferenceService's engine runner: the runtime's command with this experiment's flags merged
    over it (OME replaces the runtime's ``command``/``args`` lists by ours, and merges ``resources``
    key by key, so the runtime's cpu/memory stay and the GPU count is the experiment's)."""
    command = split_launch_spec(spec)
    base_launcher, base_flags = split_launcher(
        list(runtime_runner.get("command") or []) + list(runtime_runner.get("args") or []))
    runs = engine_of_launcher(base_launcher)
    if runs not in (None, "sim", command.engine):
        raise ValueError(f"kubernetes.runtime: the runtime starts {runs}, but the task's engine is "
                         f"{command.engine}; name a {command.engine} runtime")
    flags = merge_flags(command.engine, base_flags, _experiment_flags(command, spec.model_name))
    runner: dict[str, Any] = {"name": runtime_runner.get("name") or "ome-container"}
    if image:
        runner["image"] = image
    if command.simulated:
        runner["command"] = command.launcher()
        model = base_launcher[1:] if command.engine == "trtllm" else []  # trtllm-serve's MODEL positional
        runner["args"] = [*command.sim_options, *model, *flags]
    else:
        if base_launcher:
            runner["command"] = base_launcher
        runner["args"] = flags
    runner["resources"] = _gpus(spec.num_gpus)
    return runner


def inference_service(task: Task, options: KubernetesOptions, spec: LaunchSpec, experiment: str,
                      refs: OmeRefs, runtime_runner: dict[str, Any]) -> dict[str, Any]:
    labels = owner_labels(task.name, experiment)
    engine: dict[str, Any] = {
        "minReplicas": 1,
        "maxReplicas": 1,
        "labels": dict(labels),
        "runner": engine_runner(spec, runtime_runner, options.image),
    }
    mount_files(engine["runner"], engine, spec, experiment, runtime_runner.get("volumeMounts"))
    if options.node_selector:
        engine["nodeSelector"] = dict(options.node_selector)
    return {
        "apiVersion": f"{OME_GROUP}/{OME_VERSION}",
        "kind": "InferenceService",
        "metadata": {"name": dns_name(experiment), "namespace": options.namespace, "labels": labels},
        "spec": {"model": {"name": refs.base_model}, "runtime": {"name": refs.runtime}, "engine": engine},
    }


def plain_container(task: Task, options: KubernetesOptions, spec: LaunchSpec) -> dict[str, Any]:
    """The engine container of plain mode: the image's launcher, model and flags, on the engine's port."""
    command = split_launch_spec(spec)
    if command.model is None:
        raise ValueError(f"cannot find the model argument in {spec.argv}")
    model_args = get_adapter(command.engine).model_args(command.model, spec.model_name)
    args = [*command.sim_options, *model_args, *command.flags,
            spec.host_flag, "0.0.0.0", spec.port_flag, str(spec.container_port)]
    container: dict[str, Any] = {
        "name": "engine",
        "image": options.image or image_ref(task.engine, task.engine_version),
        "command": command.launcher(),
        "args": args,
        "ports": [{"containerPort": spec.container_port, "name": "http", "protocol": "TCP"}],
        "resources": _gpus(spec.num_gpus),
        "readinessProbe": {"httpGet": {"path": spec.health_path, "port": spec.container_port},
                           "periodSeconds": 5, "failureThreshold": 3},
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}]
        + [{"name": f"cache{i}", "mountPath": path} for i, path in enumerate(spec.cache_dirs)],
    }
    env = [{"name": k, "value": v} for k, v in spec.env.items()]
    if options.hf_token_secret:
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": options.hf_token_secret,
                                                                        "key": "token"}}})
    if env:
        container["env"] = env
    return container


def plain_deployment(task: Task, options: KubernetesOptions, spec: LaunchSpec, experiment: str) -> dict[str, Any]:
    labels = owner_labels(task.name, experiment)
    pod_spec: dict[str, Any] = {
        "containers": [plain_container(task, options, spec)],
        "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": options.shm_size}}]
        # The compile caches on the node, shared by the experiments scheduled there.
        + [{"name": f"cache{i}", "hostPath": {"path": path, "type": "DirectoryOrCreate"}}
           for i, path in enumerate(spec.cache_dirs)],
        "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
    }
    if options.node_selector:
        pod_spec["nodeSelector"] = dict(options.node_selector)
    mount_files(pod_spec["containers"][0], pod_spec, spec, experiment)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": dns_name(experiment), "namespace": options.namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def plain_service(task: Task, options: KubernetesOptions, spec: LaunchSpec, experiment: str) -> dict[str, Any]:
    labels = owner_labels(task.name, experiment)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": dns_name(experiment), "namespace": options.namespace, "labels": labels},
        "spec": {"selector": dict(labels),
                 "ports": [{"name": "http", "port": spec.container_port, "targetPort": spec.container_port,
                            "protocol": "TCP"}]},
    }


def benchmark_job(task: Task, options: KubernetesOptions, experiment: str) -> dict[str, Any]:
    """An OME BenchmarkJob (genai-bench) driving the experiment's InferenceService with the task's
    workload: same scenario syntax, concurrency levels, requests and minutes per level."""
    workload = task.workload
    minutes = max(1, -(-int(workload.duration) // 60)) if workload.duration else 15
    spec: dict[str, Any] = {
        "endpoint": {"inferenceService": {"name": dns_name(experiment), "namespace": options.namespace}},
        "task": "text-to-text",
        "trafficScenarios": list(workload.scenarios),
        "maxTimePerIteration": minutes,
        "maxRequestsPerIteration": workload.num_requests or 100,
        "outputLocation": {"storageUri": f"{options.benchmark_output.rstrip('/')}/{dns_name(experiment)}"},
    }
    if workload.concurrency:
        spec["numConcurrency"] = list(workload.concurrency)
    if options.hf_token_secret:
        spec["huggingFaceSecretReference"] = {"name": options.hf_token_secret}
    if task.benchmark.image:
        spec["podOverride"] = {"image": task.benchmark.image}
    return {
        "apiVersion": f"{OME_GROUP}/{OME_VERSION}",
        "kind": "BenchmarkJob",
        "metadata": {"name": dns_name(f"{experiment}-bench"), "namespace": options.namespace,
                     "labels": owner_labels(task.name, experiment)},
        "spec": spec,
    }


def render(task: Task, params: dict[str, Any], simulate: dict[str, Any] | None = None,
           experiment: str | None = None, runtime_runner: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every manifest the tuner would apply for one experiment with ``params``, in apply order.

    Without ``runtime_runner`` (the named runtime's engine runner, read from a cluster) the experiment's
    flags are merged over the engine's preset runtime."""
    options = parse_options(task.kubernetes)
    spec = launch_spec_for(task, params, simulate)
    experiment = experiment or f"{task.name}-preview"
    files = [m for m in [config_map(task.name, options, spec, experiment)] if m]  # applied before the engine
    if options.mode == "deployment":
        return [*files, plain_deployment(task, options, spec, experiment), plain_service(task, options, spec, experiment)]
    refs = ome_refs(task, options)
    runtime = presets.serving_runtime(task, options)
    out = []
    if refs.create_model:
        out.append(presets.base_model(task, options))
    if refs.create_runtime:
        out.append(runtime)
    base = runtime_runner or runtime["spec"]["engineConfig"]["runner"]
    out += files
    out.append(inference_service(task, options, spec, experiment, refs, base))
    if options.benchmark_output:
        out.append(benchmark_job(task, options, experiment))
    return out
