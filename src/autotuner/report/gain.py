"""The best's gain over the engine's defaults, and how sure it is.

Every gain carries its spread: the range over repeated runs (``search.repeats``) of the best and the
baseline, or else a per-request bootstrap interval (report/noise.py). A gain whose interval includes
zero is "within noise"; an SLO the best meets by less than its measurement spread is "marginal".
"""

from __future__ import annotations

import math
from typing import Any

from ..bench.metrics import higher_is_better
from ..spec.task import Task
from ..store import ExperimentRow
from .noise import CONFIDENCE, bootstrap_replicates, interval, repeat_values


def _measured(exp: ExperimentRow) -> dict[str, Any]:
    return (exp.extra or {}).get("mean_metrics") or exp.metrics or {}


def _values(task: Task, exp: ExperimentRow, metric: str, method: str) -> list[float] | None:
    if method == "repeats":
        return repeat_values(exp.metrics or {}, exp.extra or {}, metric)
    return bootstrap_replicates(exp.levels or [], exp.metrics or {}, metric, f"{task.search.seed}:{exp.id}")


def _bounds(values: list[float], method: str) -> tuple[float, float]:
    return (min(values), max(values)) if method == "repeats" else interval(values)


def _gain_bounds(sign: float, best: list[float], base: list[float], method: str) -> tuple[float, float] | None:
    if method == "repeats":  # the worst and the best pairing of the two configurations' runs
        ends = [sign * (v - b) / abs(b) for v, b in ((min(best), max(base)), (max(best), min(base))) if b]
        return (min(ends), max(ends)) if len(ends) == 2 else None
    gains = [sign * (v - b) / abs(b) for v, b in zip(best, base) if b and not math.isnan(b)]
    return interval(gains) if gains else None


def _marginal_slos(task: Task, best: ExperimentRow, method: str | None) -> list[dict[str, Any]]:
    out = []
    measured = _measured(best)
    for metric, limit in task.slo.items():
        value = measured.get(metric)
        values = _values(task, best, metric, method) if method else None
        if not isinstance(value, int | float) or not values:
            continue
        low, high = _bounds(values, method)
        met_by_less = (low < limit <= value) if higher_is_better(metric) else (value <= limit < high)
        if met_by_less:
            out.append({"metric": metric, "value": value, "limit": limit, "low": low, "high": high})
    return out


def gain_noise(task: Task, best: ExperimentRow, baseline: ExperimentRow | None) -> dict[str, Any]:
    """``{"spread", "within_noise", "marginal_slos"}`` for the results' ``best``.

    ``spread``: ``method`` (repeats or bootstrap), the best's and the baseline's objective bounds and
    the gain's bounds (relative, positive = better), or None when neither is available.
    ``within_noise``: the gain's bounds include zero (None without a gain or a spread)."""
    metric, sign = task.objective.metric, (1.0 if task.objective.maximize else -1.0)
    has_baseline = (baseline is not None and baseline.id != best.id and bool(baseline.metrics)
                    and baseline.status in ("succeeded", "infeasible"))  # as gain_over_baseline
    methods = ["repeats", "bootstrap"]
    spread: dict[str, Any] | None = None
    within: bool | None = None
    chosen: str | None = None
    for method in methods:
        best_values = _values(task, best, metric, method)
        base_values = _values(task, baseline, metric, method) if has_baseline else None
        if not best_values or (has_baseline and not base_values):
            continue
        chosen = method
        low, high = _bounds(best_values, method)
        spread = {"method": method, "best": {"low": low, "high": high, "n": len(best_values)}}
        if method == "bootstrap":
            spread["confidence"] = CONFIDENCE
        if has_baseline and base_values:
            b_low, b_high = _bounds(base_values, method)
            spread["baseline"] = {"low": b_low, "high": b_high, "n": len(base_values)}
            gain = _gain_bounds(sign, best_values, base_values, method)
            if gain is not None and not any(math.isnan(g) for g in gain):
                spread["gain"] = {"low": gain[0], "high": gain[1]}
                within = gain[0] <= 0 <= gain[1]
        break
    if chosen is None:  # no spread for the gain; an SLO may still have one from the best alone
        chosen = next((m for m in methods if _values(task, best, metric, m)), None)
    return {"spread": spread, "within_noise": within, "marginal_slos": _marginal_slos(task, best, chosen)}


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def gain_summary(task: Task, doc: dict[str, Any]) -> dict[str, Any] | None:
    """From a results document: ``{"metric", "change", "low", "high", "baseline", "best",
    "within_noise", "marginal_slos", "text"}``; ``change`` is relative, positive = better."""
    best = doc.get("best") or {}
    gains = best.get("gain_over_baseline") or {}
    metric = task.objective.metric
    if metric not in gains:
        return None
    sign = 1.0 if task.objective.maximize else -1.0
    base, value = gains[metric]["baseline"], gains[metric]["best"]
    change = sign * (value - base) / abs(base)
    spread = best.get("spread") or {}
    bounds = spread.get("gain") or {}
    out = {"metric": metric, "baseline": base, "best": value, "change": change, "low": bounds.get("low"),
           "high": bounds.get("high"), "within_noise": best.get("within_noise"),
           "marginal_slos": best.get("marginal_slos") or []}
    if bounds:
        if spread["method"] == "repeats":
            how = (f"range {_pct(bounds['low'])} to {_pct(bounds['high'])} over {spread['best']['n']} runs of "
                   f"the best, {spread['baseline']['n']} of the defaults")
        else:
            how = (f"{100 * spread['confidence']:.0f}% interval {_pct(bounds['low'])} to {_pct(bounds['high'])}, "
                   f"per-request bootstrap")
        out["text"] = f"{_pct(change)}: within noise ({how})" if out["within_noise"] else f"{_pct(change)} ({how})"
    else:
        out["text"] = f"{_pct(change)} (spread unknown: one run each and no per-request sample; search.repeats > 1 measures it)"
    for slo in out["marginal_slos"]:
        out["text"] += (f"; {slo['metric']} {slo['value']:.4g} vs limit {slo['limit']:.4g} is marginal "
                        f"(measured {slo['low']:.4g} to {slo['high']:.4g})")
    return out
