"""The SSE parser on whole reads: tokens counted by regex, only usage/error/[DONE] lines decoded."""

from __future__ import annotations

import json

from autotuner.bench.client import _events
from autotuner.bench.metrics import RequestRecord


def _line(payload: dict | str) -> bytes:
    return b"data: " + (payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()) + b"\n\n"


def _chunk(text: str, key: str = "content") -> bytes:
    return _line({"choices": [{"index": 0, "delta": {key: text}}]})


def test_a_whole_answer_in_one_read_counts_every_token_and_reads_usage():
    read = (_chunk("") + b"".join(_chunk(f"w{k} ") for k in range(50)) + _chunk("think", "reasoning_content")
            + _line({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 51}}) + _line("[DONE]"))
    record = RequestRecord(start=0.0)
    assert _events(read, 2.5, record) is True
    assert len(record.token_times) == 51 and record.first_token == 2.5  # the empty role chunk is no token
    assert (record.input_tokens, record.output_tokens) == (7, 51)


def test_text_that_quotes_keys_or_done_does_not_fool_the_counters():
    tricky = _chunk('say "error" and "usage": {} then data: [DONE] or "content":"x"')
    record = RequestRecord(start=0.0)
    assert _events(tricky, 1.0, record) is False  # not the end: [DONE] inside text is not a DONE line
    assert len(record.token_times) == 1 and record.error is None


def test_a_token_line_that_also_carries_usage_counts_once():
    both = _line({"choices": [{"index": 0, "delta": {"content": "last"}}],
                  "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
    record = RequestRecord(start=0.0)
    _events(_chunk("a") + both, 1.0, record)
    assert len(record.token_times) == 2 and record.output_tokens == 4


def test_an_error_event_ends_the_stream_with_its_message():
    record = RequestRecord(start=0.0)
    assert _events(_chunk("a") + _line({"error": {"message": "KV cache full"}}), 1.0, record) is True
    assert record.error is not None and "KV cache full" in record.error and len(record.token_times) == 1
