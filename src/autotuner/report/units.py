"""One unit per quantity on screen: latencies in ms (files keep seconds), rates per second.

The CLI tables, the HTML report and the web UI label every number with the unit given here.
"""

from __future__ import annotations

import math
from typing import Any

LATENCY_PREFIXES = ("ttft_", "tpot_", "itl_", "e2e_")
_RATE_UNITS = {
    "output_throughput": "tok/s",
    "output_throughput_per_gpu": "tok/s/GPU",
    "input_throughput": "tok/s",
    "total_throughput": "tok/s",
    "request_throughput": "req/s",
    "goodput": "req/s",
    "success_rate": "",
}


def is_latency(metric: str) -> bool:
    return metric.startswith(LATENCY_PREFIXES)


def unit(metric: str) -> str:
    """The on-screen unit of a metric: ``ms`` for latencies (stored in seconds)."""
    return "ms" if is_latency(metric) else _RATE_UNITS.get(metric, "")


def on_screen(metric: str, value: Any) -> float | None:
    """A stored value (seconds for latencies) in its on-screen unit; None when unknown."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    return value * 1000.0 if is_latency(metric) else float(value)


def label(metric: str) -> str:
    """``ttft_p90 (ms)``: a column header or axis title."""
    u = unit(metric)
    return f"{metric} ({u})" if u else metric


def fmt(metric: str, value: Any, with_unit: bool = False) -> str:
    """A metric for a table cell: ``-`` when unknown (never ``0.0``), 4 significant digits."""
    v = on_screen(metric, value)
    if v is None:
        return "-"
    text = f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return f"{text} {unit(metric)}".rstrip() if with_unit else text
