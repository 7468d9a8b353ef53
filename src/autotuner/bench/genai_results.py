"""genai-bench's result files (one JSON per scenario and concurrency) read into our metric names, so
an OME BenchmarkJob's measurements score exactly like our own load generator's.

genai-bench reports TTFT, TPOT and end-to-end latency (no inter-token latencies), throughputs and
errors; with its per-request records, goodput is counted against the task's SLOs the way we count it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .metrics import PERCENTILES, RequestRecord, summarize
from .result import LevelResult

STATS = {"ttft": "ttft", "tpot": "tpot", "e2e": "e2e_latency"}  # ours -> genai-bench's
# Metrics a BenchmarkJob can give; anything else (itl_*) cannot be an objective or an SLO with it.
GENAI_METRICS = tuple(f"{base}_{q}" for base in STATS for q in ("mean", *(f"p{p}" for p in PERCENTILES))) + (
    "output_throughput", "output_throughput_per_gpu", "input_throughput", "total_throughput",
    "request_throughput", "goodput", "success_rate")


class GenaiResultError(ValueError):
    pass


def level_from_genai(doc: dict[str, Any], slo: dict[str, float] | None = None, num_gpus: int = 1) -> LevelResult:
    """One genai-bench result document -> one load level."""
    try:
        agg = doc["aggregated_metrics"]
        scale = 1e-3 if doc.get("_time_unit", "s") == "ms" else 1.0
        scenario, concurrency = str(agg["scenario"]), int(agg["num_concurrency"])
        duration = float(agg["run_duration"])
        records = [_record(r, scale) for r in doc.get("individual_request_metrics") or []]
    except (KeyError, TypeError, ValueError) as e:
        raise GenaiResultError(f"not a genai-bench result document ({type(e).__name__}: {e})") from None
    if records:  # our own summary of its per-request records: the same definitions as our client's
        metrics = summarize(records, duration, slo, num_gpus)
    else:
        metrics = _from_aggregates(agg, scale, duration, num_gpus)
    for key in ("itl_mean", *(f"itl_p{p}" for p in PERCENTILES)):
        metrics[key] = math.nan  # genai-bench records no inter-token times
    errors = [str(r.get("error_message")) for r in doc.get("individual_request_metrics") or []
              if r.get("error_code") is not None][:5]
    return LevelResult(scenario=scenario, concurrency=concurrency, metrics=metrics, errors=errors)


def levels_from_stream(text: str, slo: dict[str, float] | None = None, num_gpus: int = 1) -> list[LevelResult]:
    """The reader pod's output: ``### <file>`` then the file's JSON, for each result file."""
    levels, chunks = [], re.split(r"^### ", text, flags=re.MULTILINE)[1:]
    for chunk in chunks:
        name, _, body = chunk.partition("\n")
        if name.strip().endswith("experiment_metadata.json") or not body.strip():
            continue
        try:
            doc = json.loads(body)
        except json.JSONDecodeError as e:
            raise GenaiResultError(f"{name.strip()}: not JSON ({e})") from None
        levels.append(level_from_genai(doc, slo, num_gpus))
    return sorted(levels, key=lambda lv: (lv.scenario, lv.concurrency))


def _record(r: dict[str, Any], scale: float) -> RequestRecord:
    failed = r.get("error_code") is not None
    ttft, e2e = r.get("ttft"), r.get("e2e_latency")
    return RequestRecord(start=0.0, end=(e2e or 0.0) * scale,
                         first_token=None if failed or ttft is None else ttft * scale,
                         input_tokens=int(r.get("num_input_tokens") or 0),
                         output_tokens=int(r.get("num_output_tokens") or 0),
                         error=(str(r.get("error_message") or r.get("error_code")) if failed else None))


def _from_aggregates(agg: dict[str, Any], scale: float, duration: float, num_gpus: int) -> dict[str, float]:
    stats = agg.get("stats") or {}
    out: dict[str, float] = {}
    for ours, theirs in STATS.items():
        s = stats.get(theirs) or {}
        out[f"{ours}_mean"] = float(s.get("mean", math.nan)) * scale
        for p in PERCENTILES:
            out[f"{ours}_p{p}"] = float(s.get(f"p{p}", math.nan)) * scale
    total = int(agg.get("num_requests") or 0)
    failed = int(agg.get("num_error_requests") or 0)
    out.update({
        "output_throughput": float(agg.get("mean_output_throughput_tokens_per_s", math.nan)),
        "input_throughput": float(agg.get("mean_input_throughput_tokens_per_s", math.nan)),
        "total_throughput": float(agg.get("mean_total_tokens_throughput_tokens_per_s", math.nan)),
        "request_throughput": float(agg.get("requests_per_second", math.nan)),
        "goodput": math.nan,  # needs the per-request records
        "success_rate": (total - failed) / total if total else 0.0,
        "num_requests": float(total), "num_errors": float(failed), "duration": duration,
    })
    out["output_throughput_per_gpu"] = out["output_throughput"] / max(num_gpus, 1)
    return out
