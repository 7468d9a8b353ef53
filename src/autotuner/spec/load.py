"""Read a task file (YAML or JSON, ours or the seed project's) into a validated ``Task``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import SpecError, from_validation_error
from .seed import convert_seed, is_seed_format
from .task import Task


def parse_document(text: str, source: str = "task") -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as e:
        raise SpecError([f"(file): not valid YAML/JSON: {e}"], source) from None
    if not isinstance(data, dict):
        raise SpecError(["(top level): expected a mapping of fields"], source)
    return data


def task_from_dict(data: dict[str, Any], source: str = "task", notes: list[str] | None = None) -> Task:
    """Validate ``data``; seed-format documents are converted first, with a note per mapping."""
    if is_seed_format(data):
        data, seed_notes = convert_seed(data, source)
        if notes is not None:
            notes.extend(seed_notes)
    try:
        return Task.model_validate(data)
    except ValidationError as e:
        raise from_validation_error(e, source) from None


def load_task(path: str | Path, notes: list[str] | None = None) -> Task:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise SpecError([f"(file): cannot read {p}: {e.strerror}"], str(p)) from None
    return task_from_dict(parse_document(text, str(p)), str(p), notes)


def dump_task(task: Task, fmt: str = "yaml") -> str:
    data = task.model_dump(mode="json", exclude_defaults=False, exclude_none=True)
    if fmt == "json":
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False)
