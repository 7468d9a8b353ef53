"""Per-request records and their summary per load level.

The metric names here are a public contract (results.json, the API, the web UI and checks read
them). Latencies are in seconds, rates per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

PERCENTILES = (50, 90, 95, 99)
LATENCY_METRICS = ("ttft", "tpot", "itl", "e2e")
RATE_METRICS = (
    "output_throughput",
    "output_throughput_per_gpu",
    "input_throughput",
    "total_throughput",
    "request_throughput",
    "goodput",
    "success_rate",
)
# Direction of "better" for each metric family, used by SLO checks and objectives.
HIGHER_IS_BETTER = set(RATE_METRICS)


def metric_names() -> list[str]:
    names = []
    for base in LATENCY_METRICS:
        names.append(f"{base}_mean")
        names.extend(f"{base}_p{p}" for p in PERCENTILES)
    return names + list(RATE_METRICS)


def higher_is_better(metric: str) -> bool:
    return metric in HIGHER_IS_BETTER


@dataclass
class RequestRecord:
    """What the client saw of one request. Times are seconds relative to any common origin."""

    start: float
    end: float = 0.0
    first_token: float | None = None
    token_times: list[float] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.start

    @property
    def e2e(self) -> float:
        return self.end - self.start

    @property
    def tpot(self) -> float | None:
        if self.ttft is None or self.output_tokens < 2:
            return None
        return (self.e2e - self.ttft) / (self.output_tokens - 1)

    @property
    def itls(self) -> list[float]:
        """Inter-token gaps. Tokens read together (one network read, or a multi-token chunk) share
        the wait before them: n tokens after a gap g count n gaps of g/n, never n-1 gaps of 0 s.
        Tokens that came with the first token have no gap to measure."""
        t = self.token_times
        out: list[float] = []
        i = 1
        while i < len(t) and t[i] == t[0]:
            i += 1
        while i < len(t):
            j = i
            while j < len(t) and t[j] == t[i]:
                j += 1
            out.extend([(t[i] - t[i - 1]) / (j - i)] * (j - i))
            i = j
        return out


def percentile(values: list[float], p: float) -> float:
    """Linear-interpolated percentile (numpy's default method)."""
    if not values:
        return math.nan
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def meets_slo(values: dict[str, float], slo: dict[str, float]) -> bool:
    """True when every SLO threshold holds: an upper bound for latencies, a lower bound for rates."""
    for metric, threshold in slo.items():
        v = values.get(metric)
        if v is None or math.isnan(v):
            return False
        if higher_is_better(metric):
            if v < threshold:
                return False
        elif v > threshold:
            return False
    return True


def _request_slo_values(r: RequestRecord) -> dict[str, float]:
    """A single request's view of the latency metrics, for goodput (every percentile = itself)."""
    values: dict[str, float] = {}
    singles = {"ttft": r.ttft, "tpot": r.tpot, "e2e": r.e2e, "itl": max(r.itls) if r.itls else r.tpot}
    for base, v in singles.items():
        if v is None:
            v = 0.0  # a one-token answer has no inter-token time to violate
        values[f"{base}_mean"] = v
        for p in PERCENTILES:
            values[f"{base}_p{p}"] = v
    return values


def summarize(records: list[RequestRecord], duration: float, slo: dict[str, float] | None = None,
              num_gpus: int = 1) -> dict[str, float]:
    """Summary metrics of one load level.

    ``duration`` is the wall (or virtual) time of the measured window. Goodput counts requests per
    second that met every latency SLO (rate SLOs do not apply to a single request).
    """
    slo = slo or {}
    ok = [r for r in records if r.ok]
    out: dict[str, float] = {}
    series = {
        "ttft": [r.ttft for r in ok if r.ttft is not None],
        "tpot": [r.tpot for r in ok if r.tpot is not None],
        "itl": [g for r in ok for g in r.itls],
        "e2e": [r.e2e for r in ok],
    }
    for base, values in series.items():
        out[f"{base}_mean"] = sum(values) / len(values) if values else math.nan
        for p in PERCENTILES:
            out[f"{base}_p{p}"] = percentile(values, p)
    duration = max(duration, 1e-9)
    out_tokens = sum(r.output_tokens for r in ok)
    in_tokens = sum(r.input_tokens for r in ok)
    latency_slo = {k: v for k, v in slo.items() if not higher_is_better(k)}
    good = sum(1 for r in ok if meets_slo(_request_slo_values(r), latency_slo))
    out["output_throughput"] = out_tokens / duration
    out["output_throughput_per_gpu"] = out_tokens / duration / max(num_gpus, 1)
    out["input_throughput"] = in_tokens / duration
    out["total_throughput"] = (in_tokens + out_tokens) / duration
    out["request_throughput"] = len(ok) / duration
    out["goodput"] = good / duration
    out["success_rate"] = len(ok) / len(records) if records else 0.0
    out["num_requests"] = float(len(records))
    out["num_errors"] = float(len(records) - len(ok))
    out["duration"] = duration
    return out


def error_sample(records: list[RequestRecord], limit: int = 5) -> list[str]:
    """Up to ``limit`` distinct error messages, in the order they happened."""
    seen: list[str] = []
    for r in records:
        if r.error and r.error not in seen:
            seen.append(r.error)
            if len(seen) == limit:
                break
    return seen
