"""The best configuration as something people deploy: a command line, a ``docker run``, Kubernetes or
OME manifests, an engine config file.

Each artefact is rendered by the code the deployers themselves use (the launch spec of the engine
adapter, the Docker container plan, the Kubernetes manifest builders), so an export runs what the
tuner measured.
"""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from ..spec.task import Task

EXPORT_KINDS = ("command", "docker", "kubernetes", "ome", "config")


class ExportError(ValueError):
    """An export that cannot be rendered for this task (the message says which field to set)."""


def export(task: Task, params: dict[str, Any], kind: str, name: str | None = None) -> str:
    """The artefact ``kind`` (one of EXPORT_KINDS) starting the engine with ``params`` over the fixed args."""
    renderers = {"command": export_command, "docker": export_docker, "kubernetes": export_kubernetes,
                 "ome": export_ome, "config": export_config}
    if kind not in renderers:
        raise ExportError(f"--as: unknown export {kind!r}; allowed: {', '.join(EXPORT_KINDS)}")
    return renderers[kind](task, params, name or f"{task.name}-best")


def export_command(task: Task, params: dict[str, Any], name: str = "") -> str:
    from .results import launch_command
    return launch_command(task, params) + "\n"


def export_docker(task: Task, params: dict[str, Any], name: str = "") -> str:
    """``docker run`` of the engine's image, as the Docker deployer creates the container."""
    from ..deploy.docker_images import image_ref, plan_container
    from ..deploy.kubernetes.manifests import launch_spec_for

    options = dict(task.docker or {})
    try:
        image = image_ref(task.engine, task.engine_version, options.get("image"), options.get("image_tag"))
    except ValueError as e:
        raise ExportError(str(e)) from None
    spec = launch_spec_for(task, params)
    plan = plan_container(spec, image, environ={})  # secrets stay in the shell: `-e HF_TOKEN` passes them
    argv = ["docker", "run", "--rm", "--name", name, "--gpus", str(spec.num_gpus or "all")]
    if options.get("ipc_host"):
        argv += ["--ipc", "host"]
    else:
        argv += ["--shm-size", str(options.get("shm_size", "16g"))]
    argv += ["-p", f"{spec.container_port}:{spec.container_port}"]
    for host, mount in plan.volumes.items():
        argv += ["-v", f"{host}:{mount['bind']}:{mount['mode']}"]
    for key, value in plan.environment.items():
        argv += ["-e", f"{key}={value}"]
    argv += ["-e", "HF_TOKEN"]
    if plan.entrypoint:
        argv += ["--entrypoint", plan.entrypoint[0]]
        command = plan.entrypoint[1:] + plan.command
    else:
        command = plan.command
    launcher = 0  # the image and the engine's launcher (`python3 -m sglang.launch_server`) share a line
    while launcher < len(command) and not command[launcher].startswith("--"):
        launcher += 1
    image_line = shlex.join([plan.image, *command[:launcher]])
    return " \\\n  ".join([*_wrap_pairs(argv), image_line, *_wrap_pairs(command[launcher:])]) + "\n"


def _wrap_pairs(argv: list[str]) -> list[str]:
    """Shell-quoted tokens, a flag and its value on one line, for a readable multi-line command."""
    lines: list[str] = []
    for token in argv:
        quoted = shlex.quote(token)
        if lines and lines[-1].startswith("-") and " " not in lines[-1] and not token.startswith("-"):
            lines[-1] += " " + quoted
        else:
            lines.append(quoted)
    head = []  # "docker run" reads better on one line
    while lines and not lines[0].startswith("-"):
        head.append(lines.pop(0))
    return [" ".join(head), *lines] if head else lines


def _manifests(task: Task, params: dict[str, Any], name: str, overrides: dict[str, Any]) -> str:
    from ..deploy.kubernetes.manifests import render

    task = task.model_copy(update={"kubernetes": {**(task.kubernetes or {}), **overrides}})
    from ..deploy.kubernetes.presets import KUBERNETES_ENGINES

    if task.engine not in KUBERNETES_ENGINES:
        raise ExportError(f"engine {task.engine!r} has no Kubernetes rendering; "
                          f"engines that have: {', '.join(KUBERNETES_ENGINES)}")
    try:
        documents = render(task, params, None, experiment=name)
    except ValueError as e:
        raise ExportError(str(e)) from None
    documents = [d for d in documents if d.get("kind") != "BenchmarkJob"]  # tuning only, not serving
    return yaml.safe_dump_all(documents, sort_keys=False)


def export_kubernetes(task: Task, params: dict[str, Any], name: str) -> str:
    """A Deployment and a Service (the Kubernetes deployer's plain mode)."""
    return _manifests(task, params, name, {"mode": "deployment"})


def export_ome(task: Task, params: dict[str, Any], name: str) -> str:
    """An OME InferenceService (with the preset ClusterBaseModel and ClusterServingRuntime unless the
    task's ``kubernetes:`` block names existing ones)."""
    kube = task.kubernetes or {}
    overrides: dict[str, Any] = {"mode": "ome"}
    if not kube.get("runtime") or not kube.get("base_model"):
        overrides["create_presets"] = True
    return _manifests(task, params, name, overrides)


def export_config(task: Task, params: dict[str, Any], name: str = "") -> str:
    """The engine flags as a YAML config file (``--config FILE`` of SGLang and vLLM); llama.cpp has
    no config file, so its export is the argument list as YAML."""
    from ..engines import get_adapter
    from ..engines.launch import engine_config

    flags = engine_config(task, params)
    head = f"# {task.engine} configuration found by autotuner for task {task.name!r}\n"
    if task.engine == "llamacpp":
        argv = get_adapter(task.engine).flag_args(flags)
        return head + "# llama-server reads no config file: pass these arguments\n" + yaml.safe_dump(
            {"args": argv}, sort_keys=False)
    usage = (f"# start: python -m sglang.launch_server --config {name}.yaml" if task.engine == "sglang"
             else f"# start: vllm serve --config {name}.yaml")
    doc = {"model-path" if task.engine == "sglang" else "model": task.model.id, **flags}
    return head + usage + "\n" + yaml.safe_dump(doc, sort_keys=False)
