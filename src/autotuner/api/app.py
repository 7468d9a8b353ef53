"""The FastAPI application: REST API, event stream, web UI and the embedded worker."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..store import Store
from . import events, pages, routes_experiments, routes_tasks
from .gate import RequestGate
from .intake import ProblemError
from .pages import WEB_DIR
from .schemas import Problem
from ..service.worker import DEFAULT_LEASE_SECONDS, RunTask, WorkerPool

DESCRIPTION = """\
Tune LLM serving engines. Create a task (`POST /api/tasks`), follow it live
(`GET /api/tasks/{id}/events`, Server-Sent Events), read its results (`GET /api/tasks/{id}/results`).

Validation errors (422) are `{"detail": [{"loc": "field.path", "msg": "..."}]}`, with the same field
paths as `autotuner validate`; other errors are `{"detail": "message"}`. When the server has a token
(it must, bound off loopback), every request but `GET /health` needs `Authorization: Bearer <AUTOTUNER_TOKEN>`.
"""


def _loc(parts: tuple | list) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "(body)"


def create_app(store: Store | str, *, workers: int = 1, token: str | None = None, out_dir: Path = Path("runs"),
               lease_seconds: float = DEFAULT_LEASE_SECONDS, poll_seconds: float = 1.0,
               loopback_only: bool = False, run_task: RunTask | None = None,
               stream_seconds: float | None = 600.0) -> FastAPI:
    """The app. ``workers`` embedded worker threads run queued tasks (0: leave them to
    ``autotuner worker`` processes); ``loopback_only`` (a server listening on loopback) answers only to
    loopback Host names, against DNS rebinding; with ``token`` every path but /health needs it;
    an event stream is closed after ``stream_seconds`` and the client reconnects where it left off."""
    if isinstance(store, str):
        store = Store(store)
    pool = WorkerPool(store, workers, lease_seconds, poll_seconds, run_task) if workers > 0 else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if pool is not None:
            pool.start()
        try:
            yield
        finally:
            if pool is not None:
                pool.stop()  # running tasks are interrupted and queued again, to resume later
            store.checkpoint()  # the .db file alone holds everything once the server is gone

    app = FastAPI(title="autotuner", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.store = store
    app.state.pool = pool
    app.state.token = token
    app.state.out_dir = Path(out_dir).resolve()
    app.state.stream_seconds = stream_seconds
    app.add_middleware(RequestGate, token=token, loopback_only=loopback_only)

    @app.exception_handler(ProblemError)
    async def _problems(_request: Request, exc: ProblemError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail()}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{"loc": _loc(e.get("loc", ())), "msg": e.get("msg", "invalid")} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    def openapi() -> dict:
        # FastAPI documents its own 422 shape (loc as a list); ours names a field path in one string.
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["ValidationError"] = Problem.model_json_schema()
            components["HTTPValidationError"] = {
                "title": "HTTPValidationError", "type": "object", "required": ["detail"],
                "properties": {"detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi

    @app.get("/health", tags=["server"])
    def health() -> dict[str, str]:
        """Liveness, open without the token (for load balancers and probes)."""
        return {"status": "ok"}

    app.include_router(routes_tasks.router)
    app.include_router(routes_experiments.router)
    app.include_router(events.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")
    return app
