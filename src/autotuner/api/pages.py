"""The web UI: server-rendered pages; the data comes from the REST API through small scripts."""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ..bench.metrics import metric_names
from ..spec.task import ENGINES, GPUS, STRATEGIES

WEB_DIR = Path(str(resources.files("autotuner") / "web"))
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
router = APIRouter(include_in_schema=False)

EXAMPLE_TASK = """\
name: my-first-task
model:
  id: meta-llama/Llama-3.1-8B-Instruct
  served_name: llama-8b
engine: sglang
search:
  strategy: bayesian
  max_experiments: 6
  space:
    max-running-requests: [16, 64, 256]
    chunked-prefill-size: [2048, 8192]
    schedule-policy: [lpm, fcfs]
objective: {maximize: output_throughput}
slo: {ttft_p90: 2.0, tpot_p90: 0.05}
workload:
  scenarios: ["D(256,64)"]
  concurrency: [8]
  num_requests: 32
simulate: {gpu: h100}
"""


def _page(request: Request, template: str, **context) -> HTMLResponse:
    context.update(token_required=bool(getattr(request.app.state, "token", None)))
    return templates.TemplateResponse(request, template, context)


@router.get("/", response_class=HTMLResponse)
def tasks_page(request: Request) -> HTMLResponse:
    return _page(request, "tasks.html", title="Tasks")


@router.get("/tasks/new", response_class=HTMLResponse)
def new_task_page(request: Request) -> HTMLResponse:
    return _page(request, "new_task.html", title="New task", example=EXAMPLE_TASK, gpus=GPUS,
                 engines=ENGINES, strategies=STRATEGIES, metrics=metric_names())


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(request: Request, task_id: int) -> HTMLResponse:
    return _page(request, "task.html", title=f"Task {task_id}", task_id=task_id)


@router.get("/experiments/{exp_id}", response_class=HTMLResponse)
def experiment_page(request: Request, exp_id: int) -> HTMLResponse:
    return _page(request, "experiment.html", title=f"Experiment {exp_id}", exp_id=exp_id)


@lru_cache(maxsize=1)
def _plotly_js() -> tuple[bytes, bytes, str]:
    from plotly.offline import get_plotlyjs

    raw = get_plotlyjs().encode()
    return raw, gzip.compress(raw, compresslevel=6), hashlib.sha1(raw).hexdigest()[:16]


@router.get("/vendor/plotly.min.js")
def plotly_js(request: Request) -> Response:
    """Plotly.js from the installed ``plotly`` package: the UI needs no CDN."""
    raw, packed, etag = _plotly_js()
    headers = {"Cache-Control": "public, max-age=86400", "ETag": f'"{etag}"', "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == f'"{etag}"':
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(packed, media_type="application/javascript", headers={**headers, "Content-Encoding": "gzip"})
    return Response(raw, media_type="application/javascript", headers=headers)
