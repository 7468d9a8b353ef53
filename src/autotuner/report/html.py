"""``report.html``: one self-contained page to share a task's answer (Plotly inlined: opens offline).

It holds the task, the best and its gain over the engine's defaults, the launch command and the
exports, parameter importance, the Pareto front, each metric against each flag, the failures, the
best's telemetry peaks and the twin's prediction error.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import plotly.io as pio

from ..spec.task import Task
from ..store import Store
from .export import EXPORT_KINDS, ExportError, export
from .figures import (finite, flag_figure, importance_figure, numbered, pareto_figure, prediction_figure,
                      short_reason)
from .gain import gain_summary
from .importance import param_importances
from .results import build_results
from .units import fmt, label, unit

REPORT_NAME = "report.html"
_TEMPLATES = Path(__file__).parent / "templates"
# Plotly's toolbar floats over the top right of a chart; shown on hover only, it never hides a title.
_PLOT_CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": "hover"}
_TELEMETRY = (("peak_kv_usage", "peak KV cache usage", "%"), ("mean_kv_usage", "mean KV cache usage", "%"),
              ("peak_running", "peak running requests", ""), ("peak_queued", "peak queued requests", ""),
              ("cache_hit_rate", "prefix cache hit rate", "%"), ("peak_gpu_memory", "peak GPU memory", ""))


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs
    return get_plotlyjs()


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["metric"] = lambda value, metric: fmt(metric, value)
    env.globals.update(label=label, unit=unit)
    return env


def _div(fig, name: str) -> str | None:
    if fig is None:
        return None
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, config=_PLOT_CONFIG, div_id=name)


def _exports(task: Task, params: dict[str, Any]) -> dict[str, str]:
    out = {}
    for kind in EXPORT_KINDS:
        try:
            out[kind] = export(task, params, kind)
        except ExportError as e:
            out[kind] = f"# not available for this task: {e}\n"
    return out


def _telemetry(best: dict[str, Any] | None) -> list[tuple[str, str]]:
    summary = (best or {}).get("telemetry") or {}
    rows = []
    for key, name, kind in _TELEMETRY:
        value = summary.get(key)
        if finite(value):
            rows.append((name, f"{100 * value:.1f}%" if kind == "%" else f"{value:g}"))
    return rows


def render_report(doc: dict[str, Any]) -> str:
    """The report page of a results document (``build_results``)."""
    task = Task.model_validate(doc["task"])
    experiments = numbered(doc["experiments"])
    by_id = {e["id"]: e for e in experiments}
    best_doc = doc.get("best")
    best = by_id.get(best_doc["id"]) if best_doc else None
    importance = param_importances(task, experiments)
    prediction_fig, prediction = prediction_figure(task, experiments)
    columns = [o.metric for o in task.objectives] + [m for m in task.slo if m not in
                                                     [o.metric for o in task.objectives]]
    counts: dict[str, int] = {}
    for e in experiments:
        counts[e["status"]] = counts.get(e["status"], 0) + 1
    context = {
        "task": task, "doc": doc, "spec_json": json.dumps(doc["task"], indent=2, default=str),
        "experiments": experiments, "best": best, "best_doc": best_doc, "counts": counts,
        "baseline": next((e for e in experiments if e.get("baseline")), None),
        "gain": gain_summary(task, doc) if best_doc else None,
        "score_label": label(task.objective.metric),
        "exports": _exports(task, best_doc["parameters"]) if best_doc else {},
        "importance": importance, "columns": columns, "flags": list(task.search.space),
        "failures": [e for e in experiments if e["status"] in ("failed", "infeasible")],
        "short_reason": short_reason, "telemetry": _telemetry(best), "prediction": prediction,
        "charts": {
            "importance": _div(importance_figure(importance), "chart-importance"),
            "pareto": _div(pareto_figure(task, experiments, best_doc["id"] if best_doc else None), "chart-pareto"),
            "flags": _div(flag_figure(task, experiments), "chart-flags"),
            "prediction": _div(prediction_fig, "chart-prediction"),
        },
        "plotly_js": _plotly_js(),
    }
    return _environment().get_template("report.html").render(**context)


def write_report(store: Store, task_id: int, out_dir: Path, path: Path | None = None) -> Path:
    """Write the task's report (default ``<out_dir>/<task>/report.html``) and return its path."""
    doc = build_results(store, task_id)
    target = Path(path) if path is not None else Path(out_dir) / doc["task"]["name"] / REPORT_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(doc), encoding="utf-8")
    return target
