"""How to start one engine: its argument list, served model name, health path and GPU count; and the
one rule for an experiment's flags (``engine_config``).

An adapter writes it (``EngineAdapter.launch_spec``); a deployer reads it. It lives with the engines
so that the deployers depend on the engines, never the other way round."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a type only: the spec reads the engines' names
    from ..spec.task import Task


@dataclass(frozen=True)
class ConfigFile:
    """A file the engine reads at start-up (TensorRT-LLM's extra-options YAML): the deployer writes
    ``content`` where the engine can read it and passes that path after ``flag``."""
    flag: str
    name: str  # file name suffix, e.g. "extra-llm-api-options.yaml"
    content: str


@dataclass
class LaunchSpec:
    engine: str
    argv: list[str]  # the whole command, without host and port
    model_name: str
    health_path: str = "/health"
    host_flag: str = "--host"
    port_flag: str = "--port"
    num_gpus: int = 1
    env: dict[str, str] = field(default_factory=dict)
    container_port: int = 8000
    files: list[ConfigFile] = field(default_factory=list)
    cache_dirs: list[str] = field(default_factory=list)  # host directories the engine writes its caches to


def engine_config(task: Task, params: dict[str, Any]) -> dict[str, Any]:
    """The flags an experiment runs with: the task's fixed flags, overridden by the trial's."""
    return {**task.fixed_args, **params}


def argv_with_files(argv: list[str], files: list[ConfigFile], directory: Path, stem: str) -> list[str]:
    """``argv`` plus ``flag path`` for each file, written as ``directory/<stem>.<name>``."""
    out = list(argv)
    for item in files:
        path = Path(directory) / f"{stem}.{item.name}"
        path.write_text(item.content)
        out += [item.flag, str(path)]
    return out
