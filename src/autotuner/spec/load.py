"""Read a task file (YAML or JSON, ours or the seed project's) into a validated ``Task``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .bounds import bound_problems
from .documents import check_depth, load_yaml
from .errors import SpecError, from_validation_error
from .limits import MAX_TASK_BYTES, decode_text, read_bounded, too_large
from .seed import convert_seed, is_seed_format
from .task import Task


def parse_document(text: str, source: str = "task") -> dict[str, Any]:
    """A task document from YAML or JSON text (YAML is a superset of JSON), within the input limits."""
    if len(text) > MAX_TASK_BYTES:
        raise SpecError([f"(file): {too_large('task files', MAX_TASK_BYTES)}"], source)
    data = load_yaml(text, source)
    if not isinstance(data, dict):
        raise SpecError(["(top level): expected a mapping of fields"], source)
    return data


def task_from_dict(data: dict[str, Any], source: str = "task", notes: list[str] | None = None) -> Task:
    """Validate ``data``; seed-format documents are converted first, with a note per mapping.

    Past the field types, the task's sizes are bounded (``bounds``), so a task that passes here
    cannot exhaust memory or time later."""
    check_depth(data, "(top level)", source)
    if is_seed_format(data):
        data, seed_notes = convert_seed(data, source)
        if notes is not None:
            notes.extend(seed_notes)
    try:
        task = Task.model_validate(data)
    except ValidationError as e:
        raise from_validation_error(e, source) from None
    problems = bound_problems(task)
    if problems:
        raise SpecError(problems, source)
    return task


def load_task(path: str | Path, notes: list[str] | None = None) -> Task:
    p = Path(path)
    text = decode_text(read_bounded(p), "(file)", str(p))
    return task_from_dict(parse_document(text, str(p)), str(p), notes)


def dump_task(task: Task, fmt: str = "yaml") -> str:
    data = task.model_dump(mode="json", exclude_defaults=False, exclude_none=True)
    if fmt == "json":
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False)
