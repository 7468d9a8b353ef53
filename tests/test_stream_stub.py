"""The benchmark's stream stub holds the delays it promises, counted from each request's arrival."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import threading
import time
from pathlib import Path

import pytest

STUB = Path(__file__).resolve().parents[1] / "benchmarks" / "stream_stub.py"


@pytest.fixture()
def stub():
    """The stub serving in a thread of its own (TTFT 0.3 s, ITL 0.05 s); yields (port, its loop)."""
    spec = importlib.util.spec_from_file_location("stream_stub", STUB)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    loop = asyncio.new_event_loop()
    port = _free_port()
    task = loop.create_task(module.serve("127.0.0.1", port, 0.3, 0.05))

    def run() -> None:
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port, loop
    loop.call_soon_threadsafe(task.cancel)
    thread.join(timeout=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(port: int, path: str = "/v1/chat/completions", body: bytes = b"") -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    method = b"POST" if body else b"GET"
    conn.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (method, path.encode(), len(body), body))
    return conn


def _read_until(conn: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed before {marker!r}: {data[-200:]!r}"
        data += chunk
    return data


def test_a_busy_stub_counts_its_delays_from_the_request_arrival(stub):
    port, loop = stub
    loop.call_soon_threadsafe(time.sleep, 0.2)  # the stub is busy as the request comes in
    sent = time.perf_counter()
    conn = _request(port, body=json.dumps({"max_tokens": 3, "stream": True}).encode())
    _read_until(conn, b'"w0 "')
    first = time.perf_counter() - sent
    data = _read_until(conn, b"[DONE]")
    done = time.perf_counter() - sent
    conn.close()
    # Counted from when the stub read the request, the first token would come 0.2 s later: 0.5 s.
    assert 0.29 <= first < 0.45
    assert 0.39 <= done < 0.55  # token 2 is due at arrival + 0.3 + 2 * 0.05
    assert b'"completion_tokens":3' in data


def test_stats_report_the_stub_own_lateness_and_reset(stub):
    port, _ = stub
    conn = _request(port, body=json.dumps({"max_tokens": 2, "stream": True}).encode())
    _read_until(conn, b"[DONE]")
    conn.close()

    def stats() -> dict:
        with _request(port, "/stats") as c:
            raw = _read_until(c, b"}")
            return json.loads(raw.split(b"\r\n\r\n", 1)[1])

    first = stats()
    assert (first["first_tokens"], first["other_tokens"]) == (1, 1)
    assert first["first_late_p50"] is not None and first["first_late_p50"] < 0.1
    assert stats()["first_tokens"] == 0  # a report starts the next window
