"""``autotuner render`` (the manifests a Kubernetes task applies, without a cluster) and
``autotuner cleanup`` (everything a Kubernetes task left in the cluster)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
import yaml
from rich.console import Console

from ..hardware.gpus import GPUS
from ..spec import SpecError, load_task
from ..spec.task import Task

console = Console()
err_console = Console(stderr=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[red]{message}[/red]", highlight=False)
    return typer.Exit(code)


def _load(path: Path) -> Task:
    try:
        return load_task(path)
    except SpecError as e:
        raise _fail(str(e)) from None


def _params(text: str | None) -> dict:
    if not text:
        return {}
    try:
        params = json.loads(text)
    except json.JSONDecodeError as e:
        raise _fail(f"--experiment: not JSON ({e}); expected an object such as '{{\"tp-size\": 2}}'") from None
    if not isinstance(params, dict):
        raise _fail("--experiment: expected a JSON object of engine flags, such as '{\"tp-size\": 2}'")
    return {str(k).lstrip("-"): v for k, v in params.items()}


def render(
    task_file: Path = typer.Argument(..., help="task file (YAML or JSON)"),
    deployment: str = typer.Option("kubernetes", "--deployment", help="what to render for: kubernetes"),
    experiment: Optional[str] = typer.Option(None, "--experiment",
                                             help='the experiment\'s flags as JSON, e.g. \'{"tp-size": 2}\''),
    simulate: Optional[str] = typer.Option(None, "--simulate",
                                           help=f"render the simulated engine's command ({', '.join(GPUS)})"),
) -> None:
    """Print the manifests the tuner would apply for one experiment, as a YAML stream."""
    from ..deploy.kubernetes.manifests import render as render_manifests

    if deployment != "kubernetes":
        raise _fail(f"--deployment: {deployment!r} has no manifests to render; allowed: kubernetes")
    if simulate is not None and simulate not in GPUS:
        raise _fail(f"--simulate: unknown GPU {simulate!r}; allowed: {', '.join(GPUS)}")
    task = _load(task_file)
    params = _params(experiment)
    from ..engines.preflight import check_flags
    problems = check_flags(task.engine, task.engine_version, params, "--experiment")
    if problems:  # a misspelt flag would render (and later run) as the engine's error
        raise _fail("\n".join(problems))
    sim = None
    if simulate is not None or task.simulate is not None:
        sim = {**(task.simulate.model_dump() if task.simulate else {}), "seed": task.search.seed}
        if simulate:
            sim["gpu"] = simulate
    try:
        documents = render_manifests(task, params, sim)
    except ValueError as e:
        raise _fail(str(e)) from None
    if not task.kubernetes.get("create_presets") and task.kubernetes.get("mode", "ome") == "ome":
        err_console.print("# the flags are merged over the engine's preset runtime here; on the cluster they are "
                          "merged over the named runtime's command", highlight=False)
    typer.echo(yaml.safe_dump_all(documents, sort_keys=False), nl=False)


def cleanup(task_file: Path = typer.Argument(..., help="task file (YAML or JSON)")) -> None:
    """Remove everything a Kubernetes task created in the cluster (experiments and presets)."""
    from ..deploy.base import DeploymentError
    from ..deploy.kubernetes import cleanup_task

    task = _load(task_file)
    if task.deployment != "kubernetes":
        raise _fail(f"deployment: task {task.name!r} runs on {task.deployment!r}; cleanup removes what a "
                    "'kubernetes' task leaves in a cluster (local and docker engines are reaped by the next run)")
    try:
        removed = cleanup_task(task)
    except (DeploymentError, RuntimeError, ValueError) as e:
        raise _fail(f"cleanup failed: {getattr(e, 'message', e)}", 1) from None
    for line in removed:
        console.print(f"removed {line}", highlight=False)
    if not removed:
        console.print(f"nothing of task {task.name!r} in the cluster", highlight=False)
