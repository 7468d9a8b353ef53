"""The streaming client against a server with known timings."""

from __future__ import annotations

import asyncio

import pytest

from autotuner.bench.client import endpoint_url, make_session, request_body, send
from autotuner.bench.metrics import summarize

from .fake_openai_server import FakeOpenAIServer

PROMPT = "one two three four five six"


def run_sends(server: FakeOpenAIServer, count: int = 1, concurrency: int = 1, **kwargs):
    async def main():
        async with make_session() as session:
            records = []

            async def worker(n):
                for _ in range(n):
                    records.append(await send(session, server.base_url, "fake", PROMPT, 10, **kwargs))

            shares = [count // concurrency + (i < count % concurrency) for i in range(concurrency)]
            await asyncio.gather(*(worker(n) for n in shares))
            return records

    return asyncio.run(main())


def test_endpoint_url_accepts_base_with_or_without_v1():
    assert endpoint_url("http://h:1", "chat") == "http://h:1/v1/chat/completions"
    assert endpoint_url("http://h:1/v1/", "completions") == "http://h:1/v1/completions"
    with pytest.raises(ValueError, match="chat, completions"):
        endpoint_url("http://h:1", "embeddings")


def test_request_asks_for_a_stream_with_usage_and_exact_length():
    body = request_body("m", "hi", 12, "chat")
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["ignore_eos"] is True and body["max_tokens"] == 12
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    messages = [{"role": "user", "content": "a b"}]
    assert request_body("m", messages, 3, "completions")["prompt"] == "a b"


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_timings_match_the_server_within_a_few_ms(api):
    with FakeOpenAIServer(ttft=0.1, itl=0.02) as server:
        records = run_sends(server, count=4, api=api)
    assert all(r.ok for r in records), [r.error for r in records]
    m = summarize(records, sum(r.e2e for r in records))
    # The chat role-only chunk comes at once: counting it would make TTFT ~0.
    assert m["ttft_p50"] == pytest.approx(0.100, abs=0.005)
    assert m["itl_p50"] == pytest.approx(0.020, abs=0.005)
    for r in records:
        assert len(r.token_times) == 10
        assert (r.input_tokens, r.output_tokens) == (6, 10)  # from usage
        assert r.tpot == pytest.approx((r.e2e - r.ttft) / 9)
        assert r.tpot == pytest.approx(0.020, abs=0.005)


def test_without_usage_tokens_are_counted():
    with FakeOpenAIServer(ttft=0.0, itl=0.0, tokens=7, usage=False) as server:
        [record] = run_sends(server)
    assert record.ok and (record.input_tokens, record.output_tokens) == (6, 7)


def test_a_json_answer_to_a_stream_request_still_counts():
    with FakeOpenAIServer(ttft=0.01, itl=0.0, json_answer=True) as server:
        [record] = run_sends(server)
    assert record.ok and record.output_tokens == 10 and record.first_token is not None


def test_http_errors_are_recorded_with_status_and_body():
    with FakeOpenAIServer(ttft=0.0, itl=0.0, fail_every=1) as server:
        [record] = run_sends(server)
    assert not record.ok
    assert "HTTP 500" in record.error and "injected failure" in record.error
    assert record.end >= record.start


def test_unreachable_server_is_an_error_not_an_exception():
    with FakeOpenAIServer() as server:
        url = server.base_url
    record = asyncio.run(_send_once(url))
    assert not record.ok and "connection failed" in record.error


async def _send_once(url):
    async with make_session() as session:
        return await send(session, url, "fake", PROMPT, 4, timeout=5)


@pytest.mark.parametrize("drop", [{"drop_reused_every": 3}, {"keepalive_timeout": 0.0}],
                         ids=["drop-reused", "close-after-response"])
def test_dropped_keepalive_connections_are_retried_on_a_fresh_one(drop):
    with FakeOpenAIServer(ttft=0.002, itl=0.001, **drop) as server:
        records = run_sends(server, count=96, concurrency=8)
        stats = dict(server.stats)
    assert [r.error for r in records if not r.ok] == []
    assert stats["dropped"] > 0 or stats["connections"] > 8  # the server did close connections


def test_a_stream_cut_after_bytes_arrived_is_an_error_and_not_retried():
    with FakeOpenAIServer(ttft=0.0, itl=0.001, cut_after=3) as server:
        records = run_sends(server, count=2)
        requests = server.stats["requests"]
    assert requests == 2
    assert all(not r.ok and "connection lost" in r.error for r in records)


def test_request_timeout_is_an_error():
    with FakeOpenAIServer(ttft=2.0, itl=0.0) as server:
        [record] = run_sends(server, timeout=0.2)
    assert not record.ok and "timeout after 0.2s" in record.error
    assert record.e2e == pytest.approx(0.2, abs=0.15)


@pytest.mark.slow
def test_client_times_first_tokens_after_the_server_wrote_them_at_concurrency_64():
    # Server and client read the same monotonic clock (Linux), so their timestamps compare.
    import json
    import urllib.request

    from .fake_openai_server import spawn

    async def main(url):
        records = {}
        async with make_session() as session:
            async def worker(w):
                for i in range(6):
                    prompt = f"worker{w} request{i} " + PROMPT * 20
                    records[prompt] = await send(session, url, "fake", prompt, 32)

            await asyncio.gather(*(worker(w) for w in range(64)))
        return records

    with spawn(ttft=0.05, itl=0.01) as url:
        records = asyncio.run(main(url))
        with urllib.request.urlopen(url + "/timings") as response:
            timings = json.load(response)
    assert all(r.ok for r in records.values())
    # ``start`` is stamped as the request bytes go out; the client's share of TTFT is the lag from the
    # server writing the first token to the client timing it.
    # How small that lag is, is a figure (benchmarks/loadgen_capacity.py), not a test: it depends on the
    # machine's load. What cannot depend on it: every request of the burst reached the server, and no
    # first token is timed before the server's schedule let it go (its arrival + TTFT).
    assert len(timings) == len(records) == 64 * 6
    assert all(records[prompt].first_token >= arrival + 0.05 for prompt, arrival, _ in timings)


def test_tokens_are_timed_when_their_bytes_were_read_not_when_the_request_got_its_turn(monkeypatch):
    import time

    from autotuner.bench import client

    class BusyLoopHandler(client.ReadStampingHandler):
        def data_received(self, data):
            super().data_received(data)
            if data:  # the loop serves other streams' reads before this request's coroutine runs
                time.sleep(0.03)

    monkeypatch.setattr(client, "ReadStampingHandler", BusyLoopHandler)
    with FakeOpenAIServer(ttft=0.1, itl=0.06) as server:
        records = run_sends(server, count=2)
    assert all(r.ok for r in records), [r.error for r in records]
    m = summarize(records, sum(r.e2e for r in records))
    # Stamped when the coroutine resumed, each token would be 30 ms late: TTFT 130 ms.
    assert m["ttft_p50"] == pytest.approx(0.100, abs=0.01)
    assert m["itl_p50"] == pytest.approx(0.060, abs=0.01)


def test_an_empty_resume_call_is_not_a_read():
    from autotuner.bench.client import ReadStampingHandler

    loop = asyncio.new_event_loop()
    try:
        handler = ReadStampingHandler(loop=loop)
        handler.data_received(b"")  # aiohttp calls this itself when the reader resumes
        assert handler.read_at == 0.0
    finally:
        loop.close()
