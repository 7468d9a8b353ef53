"""How sure a measurement is: the spread of a metric, from repeated runs or a per-request bootstrap.

With ``search.repeats`` > 1 the best and the baseline ran several times: the spread is the range of
those runs. Otherwise each level keeps a per-request sample (bench/request_sample.py) and the metric
is recomputed over resampled requests (seeded, so a report is the same every time it is built).
Latency metrics are recomputed from the resampled latencies; throughputs scale with the resampled
ratio of tokens to request time (in a closed loop, throughput = concurrency x tokens / latency).
"""

from __future__ import annotations

import math
import random
from typing import Any

from ..bench.metrics import percentile
from ..bench.request_sample import COLUMNS

CONFIDENCE = 0.90
RESAMPLES = 200
LATENCY_COLUMN = {"ttft": COLUMNS.index("ttft"), "tpot": COLUMNS.index("tpot"), "e2e": COLUMNS.index("e2e")}
_IN, _OUT, _E2E = COLUMNS.index("input_tokens"), COLUMNS.index("output_tokens"), COLUMNS.index("e2e")
THROUGHPUT_TOKENS = {"output_throughput": (_OUT,), "output_throughput_per_gpu": (_OUT,),
                     "input_throughput": (_IN,), "total_throughput": (_IN, _OUT),
                     "request_throughput": (), "goodput": ()}  # (): requests, not tokens


def _statistic(metric: str):
    """A function of a level's rows computing ``metric`` (up to a constant for throughputs), or None."""
    base, _, stat = metric.partition("_")
    if base in LATENCY_COLUMN and (stat == "mean" or (stat.startswith("p") and stat[1:].isdigit())):
        col = LATENCY_COLUMN[base]

        def latency(rows: list[list]) -> float:
            values = [r[col] for r in rows if r[col] is not None]
            if not values:
                return math.nan
            return sum(values) / len(values) if stat == "mean" else percentile(values, float(stat[1:]))
        return latency, False
    if metric in THROUGHPUT_TOKENS:
        cols = THROUGHPUT_TOKENS[metric]

        def rate(rows: list[list]) -> float:
            time = sum(r[_E2E] or 0.0 for r in rows)
            amount = sum(sum(r[c] for c in cols) for r in rows) if cols else len(rows)
            return amount / time if time > 0 else math.nan
        return rate, True
    return None


def _selected_levels(exp_levels: list[dict], metrics: dict[str, Any]) -> list[dict]:
    wanted = [s.strip() for s in str(metrics.get("selected_level") or "").split(";") if s.strip()]

    def label(lv: dict) -> str:
        load = f"c={lv['concurrency']}" if lv.get("concurrency") is not None else f"rate={lv.get('rate')}"
        return f"{lv['scenario']} {load}"

    chosen = [lv for lv in exp_levels if label(lv) in wanted]
    return chosen or list(exp_levels)


def bootstrap_replicates(exp_levels: list[dict], metrics: dict[str, Any], metric: str, seed: str,
                         resamples: int = RESAMPLES) -> list[float] | None:
    """``resamples`` values of ``metric`` over resampled requests of the selected levels, or None
    when the levels kept no per-request sample or the metric cannot be recomputed from one."""
    found = _statistic(metric)
    levels = _selected_levels(exp_levels, metrics)
    if found is None or not levels or any(len(lv.get("requests") or []) < 2 for lv in levels):
        return None
    statistic, scaled = found
    rng = random.Random(f"{seed}:{metric}")
    per_level = []
    for lv in levels:
        rows = lv["requests"]
        observed = lv.get("metrics", {}).get(metric)
        base = statistic(rows)
        if not isinstance(observed, int | float) or math.isnan(observed) or math.isnan(base) or base == 0:
            return None
        values = []
        for _ in range(resamples):
            value = statistic(rng.choices(rows, k=len(rows)))
            values.append(observed * value / base if scaled else value)
        per_level.append(values)
    return [sum(column) / len(column) for column in zip(*per_level)]


def interval(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    clean = sorted(v for v in values if not math.isnan(v))
    if not clean:
        return math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    return percentile(clean, tail), percentile(clean, 100 - tail)


def repeat_values(exp_metrics: dict[str, Any], extra: dict[str, Any], metric: str) -> list[float] | None:
    """The metric over the first run and its confirmation repeats, or None without repeats."""
    runs = [exp_metrics] + list((extra or {}).get("repeats") or [])
    values = [m.get(metric) for m in runs if isinstance(m.get(metric), int | float)]
    return values if len(values) > 1 else None
