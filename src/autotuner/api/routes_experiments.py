"""REST routes of measurements: experiment pages, one experiment, the results document, the HTML report."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from ..report.results import build_results, experiment_doc, json_safe
from . import queries, views
from .intake import ProblemError
from .routes_tasks import MAX_ID, find_task, get_store, task_id_param
from .schemas import ExperimentDetail, ExperimentPage, Problems

router = APIRouter(prefix="/api", tags=["experiments"])
STATUSES = Literal["pending", "running", "succeeded", "failed", "infeasible", "pruned", "rejected", "interrupted"]


@router.get("/tasks/{task_id}/experiments", response_model=ExperimentPage,
            responses={404: {"description": "no such task"}, 422: {"model": Problems}})
def list_experiments(
    request: Request,
    task_id: int = Depends(task_id_param),
    offset: int = Query(0, ge=0, le=10**9),
    limit: int = Query(50, ge=1, le=10_000),
    sort: str = Query("id", max_length=200, description=f"sort key: {queries.sort_keys_help()}"),
    order: Literal["asc", "desc"] = Query("asc"),
    status: STATUSES | None = Query(None, description="only experiments with this status"),
) -> dict[str, Any]:
    """A task's experiments, a page at a time, sorted by a column, a metric or a parameter."""
    store = get_store(request)
    find_task(store, task_id)
    try:
        total, rows = queries.experiments_page(store, task_id, offset, limit, sort, order, status)
    except ValueError as e:
        raise ProblemError([f"query.sort: {e}"]) from None
    numbers = views.experiment_numbers(store, task_id)
    return {"total": total, "offset": offset, "limit": limit, "sort": sort, "order": order,
            "items": [{**experiment_doc(r), "n": numbers.get(r.id)} for r in rows]}


@router.get("/experiments/{exp_id}", response_model=ExperimentDetail,
            responses={404: {"description": "no such experiment"}})
def get_experiment(request: Request, exp_id: int, log_lines: int = Query(200, ge=0, le=5000)) -> dict[str, Any]:
    """One experiment: parameters, metrics per load level, and the tail of its engine log."""
    store = get_store(request)
    exp = store.experiment(exp_id) if 1 <= exp_id <= MAX_ID else None
    if exp is None:
        raise HTTPException(404, detail=f"experiment {exp_id} not found")
    return json_safe(views.experiment_detail(store, exp, log_lines))


@router.get("/tasks/{task_id}/results", responses={404: {"description": "no such task"}})
def get_results(request: Request, task_id: int = Depends(task_id_param)) -> dict[str, Any]:
    """The same document as results.json: task, best (with the launch command), baseline, experiments."""
    store = get_store(request)
    find_task(store, task_id)
    try:
        return build_results(store, task_id)
    except KeyError:
        raise HTTPException(404, detail=f"task {task_id} not found") from None


@router.get("/tasks/{task_id}/report.html", response_class=HTMLResponse,
            responses={404: {"description": "no such task"}})
def get_report(request: Request, task_id: int = Depends(task_id_param)) -> HTMLResponse:
    """The task's report as ``autotuner report`` writes it: one self-contained page, as a download."""
    from ..report.html import render_report

    store = get_store(request)
    row = find_task(store, task_id)
    try:
        page = render_report(build_results(store, task_id))
    except KeyError:
        raise HTTPException(404, detail=f"task {task_id} not found") from None
    return HTMLResponse(page, headers={"Content-Disposition": f'attachment; filename="{row.name}-report.html"'})
