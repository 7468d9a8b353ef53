"""The report's Plotly figures, built from a results document.

Experiments are named by their number within the task (``#1`` is the first the task ran), the same
numbers the report's tables use. Failed experiments have no metrics: they are drawn at their
parameters under the zero line, with their reason on hover, so failure regions show in every chart.
"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..spec.task import NumberRange, Task
from .failure_cause import headline
from .units import label, on_screen

STATUS_COLOURS = {"succeeded": "#2563eb", "infeasible": "#f59e0b", "failed": "#dc2626", "best": "#16a34a"}
_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=60, b=50), font=dict(size=12),
               legend=dict(orientation="h", y=-0.2))


def short_reason(error: str | None, width: int = 90) -> str:
    """The line of an error that says what happened (an out-of-memory line first), cut to ``width``."""
    return headline(error, width)


def numbered(experiments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Experiments in run order with ``n``, their number within the task."""
    ordered = sorted(experiments, key=lambda e: e["id"])
    return [{**e, "n": i} for i, e in enumerate(ordered, start=1)]


def categorical(task: Task, flag: str) -> list[str] | None:
    """The category order of a flag given as a list of values (drawn as categories, not a number line)."""
    entry = task.search.space.get(flag)
    if isinstance(entry, NumberRange) or entry is None:
        return None
    values = list(entry)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        values = sorted(values)
    return [_category(v) for v in values]


def _category(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _hover(e: dict[str, Any], metric: str | None = None) -> str:
    params = "<br>".join(f"{k} = {v}" for k, v in (e.get("parameters") or {}).items()) or "engine defaults"
    head = f"#{e['n']} {'baseline' if e.get('baseline') else e['status']}"
    value = ""
    if metric is not None and on_screen(metric, (e.get("metrics") or {}).get(metric)) is not None:
        value = f"<br>{label(metric)} = {on_screen(metric, e['metrics'][metric]):.4g}"
    reason = f"<br>{short_reason(e.get('error'))}" if e.get("error") else ""
    return f"{head}{value}<br>{params}{reason}"


def importance_figure(importance: dict[str, Any]) -> go.Figure | None:
    values = importance.get("values")
    if not values:
        return None
    flags = list(values)[::-1]  # the most important on top
    fig = go.Figure(go.Bar(x=[values[f] for f in flags], y=flags, orientation="h",
                           marker_color=STATUS_COLOURS["succeeded"],
                           text=[f"{values[f]:.0%}" for f in flags],
                           # A short bar (0% included) keeps its figure beside it, not hidden inside.
                           textposition=["inside" if values[f] >= 0.15 else "outside" for f in flags]))
    fig.update_layout(**_LAYOUT, title=f"Parameter importance for {importance['metric']}",
                      height=120 + 40 * len(flags))
    fig.update_xaxes(title="share of importance (0-1)", range=[0, 1])
    return fig


_PLACES = ("top center", "bottom center", "middle right", "middle left")


def label_places(points: list[tuple[float, float]]) -> list[str]:
    """Where each point's ``#n`` label goes: a side no earlier close neighbour's label took."""
    if not points:
        return []
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    dx, dy = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    places: list[str] = []
    for i, (x, y) in enumerate(points):
        taken = {places[j] for j, (ox, oy) in enumerate(points[:i])
                 if abs(ox - x) < 0.04 * dx and abs(oy - y) < 0.08 * dy}
        places.append(next((p for p in _PLACES if p not in taken), _PLACES[i % len(_PLACES)]))
    return places


def pareto_axes(task: Task) -> tuple[str, str]:
    """(x, y) of the Pareto plot: the two objectives, else a latency SLO against the objective."""
    if len(task.objectives) > 1:
        return task.objectives[1].metric, task.objectives[0].metric
    latency = next(iter(task.slo), "ttft_p90")
    return latency, task.objective.metric


def _better(task: Task, metric: str) -> int:
    for o in task.objectives:
        if o.metric == metric:
            return 1 if o.maximize else -1
    return -1  # an SLO metric: a latency, lower is better


def pareto_figure(task: Task, experiments: list[dict[str, Any]], best_id: int | None) -> go.Figure:
    x_metric, y_metric = pareto_axes(task)
    points = [e for e in experiments if e["status"] in ("succeeded", "infeasible") and
              on_screen(x_metric, (e.get("metrics") or {}).get(x_metric)) is not None and
              on_screen(y_metric, (e.get("metrics") or {}).get(y_metric)) is not None]
    sx, sy = _better(task, x_metric), _better(task, y_metric)

    def xy(e: dict[str, Any]) -> tuple[float, float]:
        return on_screen(x_metric, e["metrics"][x_metric]), on_screen(y_metric, e["metrics"][y_metric])

    feasible = [e for e in points if e["status"] == "succeeded"]
    front = [e for e in feasible if not any(
        sx * xy(o)[0] >= sx * xy(e)[0] and sy * xy(o)[1] >= sy * xy(e)[1] and xy(o) != xy(e) for o in feasible)]
    front.sort(key=lambda e: xy(e)[0])
    places = label_places([xy(e) for e in points])
    place = {e["id"]: p for e, p in zip(points, places)}
    fig = go.Figure()
    for status in ("succeeded", "infeasible"):
        group = [e for e in points if e["status"] == status]
        fig.add_trace(go.Scatter(x=[xy(e)[0] for e in group], y=[xy(e)[1] for e in group], mode="markers+text",
                                 name=status if status == "infeasible" else "feasible",
                                 text=[f"#{e['n']}" for e in group], textposition=[place[e["id"]] for e in group],
                                 hovertext=[_hover(e) for e in group], hoverinfo="text",
                                 marker=dict(size=10, color=STATUS_COLOURS[status])))
    fig.add_trace(go.Scatter(x=[xy(e)[0] for e in front], y=[xy(e)[1] for e in front], mode="lines",
                             name="Pareto front", line=dict(color=STATUS_COLOURS["best"], dash="dot"),
                             hoverinfo="skip"))
    best = next((e for e in points if e["id"] == best_id), None)
    if best is not None:
        fig.add_trace(go.Scatter(x=[xy(best)[0]], y=[xy(best)[1]], mode="markers", name=f"best (#{best['n']})",
                                 marker=dict(size=18, color="rgba(0,0,0,0)",
                                             line=dict(width=3, color=STATUS_COLOURS["best"])), hoverinfo="skip"))
    if x_metric in task.slo:
        limit = on_screen(x_metric, task.slo[x_metric])
        fig.add_vline(x=limit, line_dash="dash", line_color="#6b7280",
                      annotation_text=f"SLO {x_metric} ≤ {limit:g} ms", annotation_position="top left")
    fig.update_layout(**_LAYOUT, title=f"Pareto front: {y_metric} against {x_metric}", height=460)
    fig.update_xaxes(title=label(x_metric))
    fig.update_yaxes(title=label(y_metric))
    return fig


def flag_figure(task: Task, experiments: list[dict[str, Any]]) -> go.Figure | None:
    """Each metric (rows: objectives, then SLO metrics) against each tuned flag (columns)."""
    flags = list(task.search.space)
    metrics = [o.metric for o in task.objectives] + [m for m in task.slo if m not in
                                                     [o.metric for o in task.objectives]]
    tried = [e for e in experiments if not e.get("baseline")]
    if not flags or not tried:
        return None
    fig = make_subplots(rows=len(metrics), cols=len(flags), shared_yaxes=True, horizontal_spacing=0.03,
                        vertical_spacing=0.08)
    shown: set[str] = set()
    for r, metric in enumerate(metrics, start=1):
        measured = [on_screen(metric, (e.get("metrics") or {}).get(metric)) for e in tried]
        top = max([v for v in measured if v is not None] or [1.0]) or 1.0
        floor = -0.08 * top  # failures sit in a band under zero, clear of the measured points
        for c, flag in enumerate(flags, start=1):
            for status in ("succeeded", "infeasible", "failed"):
                group = [e for e in tried if e["status"] == status and flag in (e.get("parameters") or {})]
                if status == "failed":
                    ys = [floor] * len(group)  # no measurement: the reason on hover
                else:
                    group = [e for e in group if on_screen(metric, (e.get("metrics") or {}).get(metric)) is not None]
                    ys = [on_screen(metric, e["metrics"][metric]) for e in group]
                xs = [_category(e["parameters"][flag]) if categorical(task, flag) else e["parameters"][flag]
                      for e in group]
                fig.add_trace(go.Scatter(
                    x=xs, y=ys, mode="markers", name=status, legendgroup=status, showlegend=status not in shown,
                    hovertext=[_hover(e, metric) for e in group], hoverinfo="text",
                    marker=dict(size=9, color=STATUS_COLOURS[status], opacity=0.8,
                                symbol="x" if status == "failed" else "circle")), row=r, col=c)
                shown.add(status) if group else None
            order = categorical(task, flag)
            # Categories padded half a step each side: the end values stay off the panel's edges.
            axis = (dict(type="category", categoryorder="array", categoryarray=order, range=[-0.5, len(order) - 0.5])
                    if order else {})
            fig.update_xaxes(title=flag if r == len(metrics) else None, row=r, col=c, **axis)
        fig.update_yaxes(title=label(metric), row=r, col=1, range=[2 * floor, 1.08 * top])
        fig.update_yaxes(row=r, zeroline=True, zerolinecolor="#9ca3af")
    fig.update_layout(**{**_LAYOUT, "legend": dict(orientation="h", x=1, xanchor="right", y=1.0, yanchor="bottom")},
                      height=130 + 240 * len(metrics),
                      title="Each metric against each tuned flag (failed: ✕ under the zero line, reason on hover)")
    return fig


def prediction_figure(task: Task, experiments: list[dict[str, Any]]) -> tuple[go.Figure | None, dict[str, Any]]:
    """Predicted (the virtual-time twin) against measured objective, and the error summary."""
    metric = task.objective.metric
    pairs = []
    for e in experiments:
        predicted = ((e.get("predicted") or {}).get("metrics") or {}).get(metric)
        measured = (e.get("metrics") or {}).get(metric)
        p, m = on_screen(metric, predicted), on_screen(metric, measured)
        if p is not None and m is not None and m != 0:
            pairs.append((e, p, m))
    if not pairs:
        return None, {}
    errors = [abs(p - m) / abs(m) for _, p, m in pairs]
    summary = {"metric": metric, "n": len(pairs), "mean_abs_error": sum(errors) / len(errors),
               "max_abs_error": max(errors)}
    fig = go.Figure(go.Scatter(x=[m for _, _, m in pairs], y=[p for _, p, _ in pairs], mode="markers+text",
                               text=[f"#{e['n']}" for e, _, _ in pairs], textposition="top center",
                               hovertext=[_hover(e, metric) for e, _, _ in pairs], hoverinfo="text",
                               name="experiment", marker=dict(size=10, color=STATUS_COLOURS["succeeded"])))
    low = min(min(p, m) for _, p, m in pairs)
    high = max(max(p, m) for _, p, m in pairs)
    fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="predicted = measured",
                             line=dict(color="#6b7280", dash="dash"), hoverinfo="skip"))
    fig.update_layout(**_LAYOUT, height=420, title=f"Twin's prediction against the measurement: {metric}")
    fig.update_xaxes(title=f"measured {label(metric)}")
    fig.update_yaxes(title=f"predicted {label(metric)}")
    return fig, summary


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and not (math.isnan(value) or math.isinf(value))
