"""REST routes of tasks: create, list, inspect, start, cancel, resume, delete, export."""

from __future__ import annotations

from typing import Literal

import yaml
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy.exc import IntegrityError

from ..service.session import delete_task
from ..search.problems import task_problems
from ..spec import SpecError, dump_task
from ..spec.load import parse_document
from ..hardware.gpus import GPUS
from ..store import TASK_STATUSES, Store, TaskRow
from ..store.models import utcnow
from . import queries, views
from .auth import require_writer
from .intake import ProblemError, problem_list, read_new_task, validate_document
from .schemas import (
    Created,
    Problems,
    StatusReply,
    TaskDetail,
    TaskList,
    ValidateReport,
    ValidateRequest,
)

router = APIRouter(prefix="/api", tags=["tasks"], responses={
    400: {"description": "the body could not be read (not JSON, not UTF-8)"},
    401: {"description": "a bearer token is required (servers bound off loopback)"},
    403: {"description": "a cross-site request (a foreign Origin) was refused"}})
MAX_ID = 2**31 - 1  # PostgreSQL INTEGER
RESTARTABLE = ("pending", "cancelled", "failed")


def get_store(request: Request) -> Store:
    return request.app.state.store


def find_task(store: Store, task_id: int) -> TaskRow:
    row = store.task(task_id)
    if row is None:
        raise HTTPException(404, detail=f"task {task_id} not found")
    return row


def task_id_param(task_id: int) -> int:
    if not 1 <= task_id <= MAX_ID:
        raise HTTPException(404, detail=f"task {task_id} not found")
    return task_id


NEW_TASK_BODY = {
    "requestBody": {
        "required": True,
        "description": "The task: a JSON object (the task itself, or {task, simulate, virtual_time, start}), "
                       "YAML text, or a task file uploaded as the multipart field 'file'.",
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
            "application/yaml": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"},
                               "simulate": {"type": "string", "enum": list(GPUS)},
                               "virtual_time": {"type": "boolean"}, "start": {"type": "boolean"}}}},
        },
    }
}


@router.post("/tasks", status_code=201, response_model=Created, openapi_extra=NEW_TASK_BODY,
             dependencies=[Depends(require_writer)],
             responses={409: {"description": "a task with this name exists"}, 422: {"model": Problems},
                        415: {"description": "unsupported content type"}})
async def create_task(request: Request,
                      simulate: str | None = Query(
                          None, description="run on the simulated engine of this GPU (one of hardware.gpus.GPUS)"),
                      virtual_time: bool | None = Query(None, description="with simulate: no HTTP, no sleeping"),
                      start: bool | None = Query(None, description="false: only save the task (status pending)")):
    """Validate a task (same rules and field paths as the CLI), save it and queue it."""
    store = get_store(request)
    new = await read_new_task(request, {"simulate": simulate, "virtual_time": virtual_time, "start": start},
                              request.app.state.out_dir)
    existing = store.task_by_name(new.task.name)
    if existing is not None:
        raise HTTPException(409, detail=f"name: a task named {new.task.name!r} already exists (id {existing.id}); "
                                        f"rename it, or resume or delete task {existing.id}")
    status = "queued" if new.start else "pending"
    try:
        row = store.create_task(new.task.name, new.task.model_dump(mode="json"), status=status,
                                options=new.options.to_dict())
    except IntegrityError:
        raise HTTPException(409, detail=f"name: a task named {new.task.name!r} already exists") from None
    store.add_event(row.id, "task_created", {"status": status})
    return {"id": row.id, "name": row.name, "status": status, "notes": new.notes}


@router.post("/validate", response_model=ValidateReport, tags=["tasks"])
def validate(body: ValidateRequest) -> dict:
    """Check a task without saving it; converts between YAML text and a JSON document (the UI's editor)."""
    problems: list[str] = []
    notes: list[str] = []
    document = None
    text = ""
    if body.yaml is not None:
        text = body.yaml
        try:
            document = parse_document(text)
        except SpecError as e:
            problems = e.problems
    elif body.document is not None:
        document = body.document
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    else:
        problems = ["yaml: give the task as yaml (text) or document (object)"]
    if document is not None:
        try:
            task = validate_document(document, notes)
            problems = task_problems(task)  # engine flags too, as `autotuner validate`
        except ProblemError as e:
            problems = e.problems
    return {"valid": not problems and document is not None, "document": document, "yaml": text,
            "problems": problem_list(problems), "notes": notes}


@router.get("/tasks", response_model=TaskList)
def list_tasks(request: Request, offset: int = Query(0, ge=0, le=10**9), limit: int = Query(100, ge=1, le=1000),
               status: Literal[TASK_STATUSES] | None = Query(None)) -> dict:  # type: ignore[valid-type]
    """Tasks, newest first, with progress and the best so far."""
    store = get_store(request)
    total, rows = queries.task_page(store, offset, limit, status)
    return {"total": total, "offset": offset, "limit": limit,
            "items": [views.task_summary(store, r) for r in rows]}


@router.get("/tasks/{task_id}", response_model=TaskDetail, responses={404: {"description": "no such task"}})
def get_task(request: Request, task_id: int = Depends(task_id_param)) -> dict:
    """Status, progress (finished experiments / budget), the best so far, the running experiment and phase."""
    store = get_store(request)
    return views.task_detail(store, find_task(store, task_id))


def _requeue(request: Request, task_id: int, verb: str) -> dict:
    store = get_store(request)
    row = find_task(store, task_id)
    ok = queries.transition(store, task_id, RESTARTABLE, status="queued", cancel_requested=False, error=None,
                            finished_at=None, worker=None, lease_until=None)
    if not ok:
        row = find_task(store, task_id)
        why = ("it is already " + row.status if row.status in queries.ACTIVE else
               "it finished successfully (its budget is spent): create a new task, or one with a larger budget")
        raise HTTPException(409, detail=f"cannot {verb} task {task_id}: {why}")
    store.add_event(task_id, "task_queued", {"by": verb})
    return {"id": row.id, "status": "queued", "cancel_requested": False}


@router.post("/tasks/{task_id}/start", response_model=StatusReply, dependencies=[Depends(require_writer)],
             responses={404: {"description": "no such task"}, 409: {"description": "already queued, running or done"}})
def start_task(request: Request, task_id: int = Depends(task_id_param)) -> dict:
    """Queue a saved (pending) task."""
    return _requeue(request, task_id, "start")


@router.post("/tasks/{task_id}/resume", response_model=StatusReply, dependencies=[Depends(require_writer)],
             responses={404: {"description": "no such task"}, 409: {"description": "already queued, running or done"}})
def resume_task(request: Request, task_id: int = Depends(task_id_param)) -> dict:
    """Queue a cancelled or failed task again: finished experiments are kept, the search goes on."""
    return _requeue(request, task_id, "resume")


@router.post("/tasks/{task_id}/cancel", response_model=StatusReply, dependencies=[Depends(require_writer)],
             responses={404: {"description": "no such task"}, 409: {"description": "already finished"}})
def cancel_task(request: Request, response: Response, task_id: int = Depends(task_id_param)) -> dict:
    """Stop a task: a queued one at once; a running one's engine is torn down within seconds."""
    store = get_store(request)
    find_task(store, task_id)
    if queries.transition(store, task_id, ("pending", "queued"), status="cancelled", cancel_requested=True,
                          finished_at=utcnow()):
        store.add_event(task_id, "task_finished", {"status": "cancelled", "error": None})
        return {"id": task_id, "status": "cancelled", "cancel_requested": True}
    if queries.transition(store, task_id, ("running",), cancel_requested=True):
        pool = request.app.state.pool
        if pool is not None:
            pool.cancel(task_id)  # this process runs it: stop now rather than at the next poll
        response.status_code = 202
        return {"id": task_id, "status": "running", "cancel_requested": True}
    row = find_task(store, task_id)
    raise HTTPException(409, detail=f"task {task_id} already finished ({row.status})")


@router.delete("/tasks/{task_id}", status_code=204, dependencies=[Depends(require_writer)],
               responses={404: {"description": "no such task"}, 409: {"description": "the task is running"}})
def remove_task(request: Request, task_id: int = Depends(task_id_param)) -> Response:
    """Delete a task with its experiments and events (not while it runs: cancel it first)."""
    store = get_store(request)
    row = find_task(store, task_id)
    # A queued task is taken off the queue first, so no worker claims it while it is deleted.
    queries.transition(store, task_id, ("queued",), status="cancelled", cancel_requested=True)
    row = find_task(store, task_id)
    if row.status == "running":
        raise HTTPException(409, detail=f"task {task_id} is running: cancel it first")
    delete_task(store, task_id)
    return Response(status_code=204)


@router.get("/tasks/{task_id}/export", response_class=PlainTextResponse,
            responses={200: {"content": {"application/yaml": {}}}, 404: {"description": "no such task"}})
def export_task(request: Request, task_id: int = Depends(task_id_param)) -> Response:
    """The task file as YAML (``autotuner run`` accepts it)."""
    from ..spec.task import Task

    row = find_task(get_store(request), task_id)
    try:
        text = dump_task(Task.model_validate(row.spec))
    except Exception:  # noqa: BLE001 - a spec saved by an older version: export it as stored
        text = yaml.safe_dump(row.spec, sort_keys=False)
    return Response(text, media_type="application/yaml",
                    headers={"Content-Disposition": f'attachment; filename="{row.name}.yaml"'})
