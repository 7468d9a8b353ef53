"""The best's gain over the engine's defaults, with its spread when the configurations ran repeatedly."""

from __future__ import annotations

import math
from typing import Any

from ..spec.task import Task


def gain_summary(task: Task, doc: dict[str, Any]) -> dict[str, Any] | None:
    """From a results document: ``{"metric", "change", "low", "high", "baseline", "best", "text"}``.

    ``change`` is the relative improvement in the objective's direction (positive = better). With
    confirmation runs, ``low``/``high`` bound it by the runs' min and max of both configurations;
    without them the gain is one measurement each and the text says so."""
    gains = (doc.get("best") or {}).get("gain_over_baseline") or {}
    metric = task.objective.metric
    if metric not in gains:
        return None
    sign = 1.0 if task.objective.maximize else -1.0
    g = gains[metric]
    base, value = g["baseline"], g["best"]
    change = sign * (value - base) / abs(base)
    out = {"metric": metric, "baseline": base, "best": value, "change": change, "low": None, "high": None}
    spread = gains.get("_spread") or {}
    if "best" in spread and "baseline" in spread:
        b, v = spread["baseline"], spread["best"]
        ends = [sign * (v[x] - b[y]) / abs(b[y]) for x, y in (("min", "max"), ("max", "min")) if b.get(y)]
        if ends and all(not math.isnan(e) for e in ends):
            out["low"], out["high"] = min(ends), max(ends)
            out["text"] = (f"{100 * change:+.1f}% (range {100 * out['low']:+.1f}% to {100 * out['high']:+.1f}% "
                           f"over {v.get('n')} runs of the best, {b.get('n')} of the defaults)")
    if "text" not in out:
        out["text"] = f"{100 * change:+.1f}% (one run each: no spread; search.repeats > 1 measures it)"
    return out
