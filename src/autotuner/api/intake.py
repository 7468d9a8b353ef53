"""Reading a new task from a request: JSON, raw YAML text or an uploaded file, plus run options.

Errors are the CLI's: one ``{"loc": "field.path", "msg": ...}`` per problem, HTTP 422.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from ..service.session import RunOptions, check_runnable
from ..spec import SpecError, task_from_dict
from ..spec.load import parse_document
from ..spec.task import GPUS, Task

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")
JSON_TYPES = ("application/json",)
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MAX_BODY = 1_000_000  # bytes: a task file is a few kilobytes


class ProblemError(Exception):
    """A request the API refuses; ``problems`` are "loc: msg" lines (the spec's format)."""

    def __init__(self, problems: list[str], status: int = 422):
        self.problems, self.status = problems, status
        super().__init__("; ".join(problems))

    def detail(self) -> list[dict[str, str]]:
        return problem_list(self.problems)


def problem_list(problems: list[str]) -> list[dict[str, str]]:
    out = []
    for p in problems:
        loc, sep, msg = p.partition(": ")
        out.append({"loc": loc, "msg": msg} if sep else {"loc": "(body)", "msg": p})
    return out


@dataclass
class NewTask:
    task: Task
    options: RunOptions
    start: bool
    notes: list[str] = field(default_factory=list)


def parse_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ProblemError([f"{name}: expected true or false (got {value!r})"])


def parse_simulate(value: Any) -> str | None:
    if value is None or value is False or str(value).strip().lower() in ("", "none", "false", "off"):
        return None
    gpu = str(value).strip().lower()
    if gpu not in GPUS:
        raise ProblemError([f"simulate: unknown GPU {value!r}; allowed: {', '.join(GPUS)}"])
    return gpu


async def _body_document(request: Request) -> tuple[Any, dict[str, Any]]:
    """The task document (dict or YAML text) and the run options found beside it in the body."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in FORM_TYPES:
        form = await request.form()
        upload = form.get("file")
        if isinstance(upload, UploadFile):
            raw = await upload.read(MAX_BODY + 1)
            text = _decode(raw)
        elif isinstance(form.get("task"), str):
            text = form["task"]
        else:
            raise ProblemError(["file: upload the task file as the form field 'file' (or its text as 'task')"])
        options = {k: form[k] for k in ("simulate", "virtual_time", "start") if isinstance(form.get(k), str)}
        return text, options
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ProblemError([f"(body): larger than {MAX_BODY} bytes"], 413)
    if not raw.strip():
        raise ProblemError(["(body): empty; send the task (a mapping of fields) as JSON, YAML text or an uploaded file"])
    text = _decode(raw)
    if ctype in JSON_TYPES or ctype.endswith("+json"):
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ProblemError([f"(body): not valid JSON: {e}"]) from None
        if isinstance(data, dict) and "task" in data:  # {task: {...} | "yaml", simulate, virtual_time, start}
            options = {k: data[k] for k in ("simulate", "virtual_time", "start") if k in data}
            unknown = sorted(set(data) - {"task", "simulate", "virtual_time", "start"})
            if unknown:
                raise ProblemError([f"{k}: unknown field; the body holds task, simulate, virtual_time, start"
                                    for k in unknown])
            return data["task"], options
        return data, {}
    if ctype in YAML_TYPES or not ctype:
        return text, {}
    accepted = "application/json, application/yaml (or text/plain) or multipart/form-data with a 'file'"
    raise ProblemError([f"content-type: {ctype!r} is not accepted; send {accepted}"], 415)


def _decode(raw: bytes) -> str:
    if len(raw) > MAX_BODY:
        raise ProblemError([f"file: larger than {MAX_BODY} bytes"], 413)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProblemError(["(body): not UTF-8 text"]) from None


def validate_document(doc: Any, notes: list[str] | None = None) -> Task:
    """A task from a dict or YAML/JSON text, or ProblemError with the spec's field paths."""
    try:
        if isinstance(doc, str):
            doc = parse_document(doc)
        if not isinstance(doc, dict):
            raise SpecError(["(top level): expected a mapping of fields"])
        return task_from_dict(doc, notes=notes)
    except SpecError as e:
        raise ProblemError(e.problems) from None


def run_options(task: Task, simulate: Any, virtual_time: Any, out_dir: Path) -> RunOptions:
    gpu = parse_simulate(simulate)
    vt = parse_bool(virtual_time, "virtual_time") if virtual_time is not None else False
    if vt and gpu is None and task.simulate is None:
        gpu = "h100"  # as the CLI: virtual time implies the simulated engine
    options = RunOptions(simulate_gpu=gpu, virtual_time=vt, out_dir=out_dir)
    try:
        check_runnable(task, options)
    except SpecError as e:
        raise ProblemError(e.problems) from None
    return options


async def read_new_task(request: Request, query: dict[str, Any], out_dir: Path) -> NewTask:
    doc, body_options = await _body_document(request)
    merged = {**{k: v for k, v in query.items() if v is not None}, **body_options}
    notes: list[str] = []
    task = validate_document(doc, notes)
    options = run_options(task, merged.get("simulate"), merged.get("virtual_time"), out_dir)
    start = parse_bool(merged.get("start", True), "start")
    return NewTask(task, options, start, notes)
