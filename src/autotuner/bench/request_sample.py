"""A compact per-request sample of one load level, kept with the level so a gain's noise can be
estimated later (report/noise.py) without storing every token time.

One row per successful request: ``[ttft, tpot, e2e, input_tokens, output_tokens]`` (None where a
request has no such time). Long levels keep an evenly spaced subset, so the stored size is bounded.
"""

from __future__ import annotations

from .metrics import RequestRecord

SAMPLE_LIMIT = 2000  # rows per level: enough for a bootstrap, ~100 KB of JSON at most
COLUMNS = ("ttft", "tpot", "e2e", "input_tokens", "output_tokens")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def request_sample(records: list[RequestRecord], limit: int = SAMPLE_LIMIT) -> list[list[float | None]]:
    ok = [r for r in records if r.ok]
    if len(ok) > limit:
        step = len(ok) / limit
        ok = [ok[int(i * step)] for i in range(limit)]
    return [[_rounded(r.ttft), _rounded(r.tpot), _rounded(r.e2e), r.input_tokens, r.output_tokens] for r in ok]
