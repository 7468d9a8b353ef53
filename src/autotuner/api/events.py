"""Server-Sent Events of a task, read from the events table (so any worker process feeds them).

Each message is ``id: <event id>`` plus ``data: {"kind": ..., "ts": ..., ...}``. A client that
reconnects sends ``Last-Event-ID`` and gets only what it missed. The stream ends after the task
finishes; reconnecting to a finished task with nothing new gets 204, which tells a browser's
EventSource to stop retrying.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..report.results import json_safe
from ..store import EventRow, Store
from .intake import ProblemError
from .queries import TERMINAL
from .routes_tasks import find_task, get_store, task_id_param
from .views import as_datetime

router = APIRouter(prefix="/api", tags=["events"])
POLL_SECONDS = 0.5
PING_SECONDS = 15.0
BATCH = 500
FINISH_GRACE_SECONDS = 3.0  # a finished task whose task_finished event is not written yet


def format_event(ev: EventRow) -> str:
    payload = json_safe({"id": ev.id, "task_id": ev.task_id, "kind": ev.kind, "ts": as_datetime(ev.ts),
                      **(ev.data or {})})
    return f"id: {ev.id}\ndata: {json.dumps(payload, default=str)}\n\n"


async def event_stream(request: Request, store: Store, task_id: int, cursor: int,
                       max_seconds: float | None = None) -> AsyncIterator[str]:
    """Events after ``cursor`` until the task finishes (or ``max_seconds``: the client reconnects)."""
    yield "retry: 2000\n\n"
    opened = time.monotonic()
    last_kind = None
    last_sent = time.monotonic()
    terminal_since: float | None = None
    while True:
        if await request.is_disconnected():
            return
        events = await run_in_threadpool(store.events, task_id, cursor, BATCH)
        for ev in events:
            cursor, last_kind = ev.id, ev.kind
            yield format_event(ev)
        if events:
            last_sent = time.monotonic()
        if len(events) == BATCH:
            continue  # more waiting: no sleep
        row = await run_in_threadpool(store.task, task_id)
        if row is None:  # deleted
            return
        if row.status in TERMINAL:
            terminal_since = terminal_since or time.monotonic()
            if last_kind == "task_finished" or time.monotonic() - terminal_since > FINISH_GRACE_SECONDS:
                return
        else:
            terminal_since = None
        if max_seconds is not None and time.monotonic() - opened > max_seconds:
            return  # a long stream is renewed: EventSource reconnects with Last-Event-ID
        if time.monotonic() - last_sent > PING_SECONDS:
            last_sent = time.monotonic()
            yield ": ping\n\n"
        await asyncio.sleep(POLL_SECONDS)


@router.get("/tasks/{task_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "the event stream"},
                       204: {"description": "the task is finished and nothing happened after Last-Event-ID"},
                       404: {"description": "no such task"}})
async def task_events(request: Request, task_id: int = Depends(task_id_param),
                      after: int = Query(0, ge=0, le=2**62, description="send only events after this id"),
                      last_event_id: str | None = Header(None, alias="Last-Event-ID")) -> Response:
    """Live events of a task (Server-Sent Events): experiment_started, experiment_phase, level_finished,
    experiment_finished, best_changed, task_finished, ..."""
    store = get_store(request)
    row = await run_in_threadpool(find_task, store, task_id)
    cursor = after
    if last_event_id:
        try:
            cursor = max(cursor, int(last_event_id.strip()))
        except ValueError:
            raise ProblemError([f"header.Last-Event-ID: expected an event id (a number), got {last_event_id!r}"]) from None
        if cursor > 2**62:
            raise ProblemError([f"header.Last-Event-ID: {cursor} is not an event id of this server"])
    if row.status in TERMINAL and cursor > 0:
        pending = await run_in_threadpool(store.events, task_id, cursor, 1)
        if not pending:
            return Response(status_code=204)
    stream = event_stream(request, store, task_id, cursor, getattr(request.app.state, "stream_seconds", None))
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
