#!/usr/bin/env python
"""A streaming OpenAI-API stub that costs next to nothing per token, for measuring load generators.

    python benchmarks/stream_stub.py --port 0 [--ttft 0.1 --itl 0.02]   # prints "READY <port>"
    curl http://127.0.0.1:PORT/stats      # the stub's own lateness since the last /stats (JSON)

With zero delays (the default) a whole streamed answer is one pre-built buffer written at once, so
the stub serves thousands of tokens per second from a fraction of a core and the client is what the
measurement sees. With ``--ttft``/``--itl`` token k of a request is due at ``received + ttft + k *
itl`` (absolute times: a late write does not delay the next one), where ``received`` is when the
kernel received the request's last bytes (``SO_TIMESTAMPNS``), so a stub busy when a request comes
in does not add its read lag to the delays it promises. One timer serves every stream: it fires at the earliest due time and
writes every token then due, each a pre-encoded chunk (no JSON per token). ``/stats`` reports how
late the stub itself wrote (write time minus due time, on the clock the client reads too), so a
client's TTFT/ITL error can be told apart from the stub's.
Non-blocking sockets on the event loop (HTTP/1.1, keep-alive, Content-Length bodies): aiohttp's
per-write cost would make the stub, not the client, the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import re
import socket
import struct
import time
from itertools import count

_MAX_TOKENS = re.compile(rb'"max_tokens"\s*:\s*(\d+)')
_LENGTH = re.compile(rb"content-length:\s*(\d+)")
_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n")
_CHUNK = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": "stub"}
_EARLY = 0.0002  # seconds: a token due this soon is written by the timer already firing
# Linux: the kernel's receive time of a read (a CLOCK_REALTIME timespec in its ancillary data).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_STAMP_SPACE = socket.CMSG_SPACE(16)


def _json_response(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(payload: dict | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps({**_CHUNK, **payload}, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


def _token(k: int, last: bool) -> bytes:
    return _event({"choices": [{"index": 0, "delta": {"content": f"w{k} "},
                                "finish_reason": "length" if last else None}]})


def _tail(tokens: int) -> bytes:
    usage = {"prompt_tokens": 128, "completion_tokens": tokens, "total_tokens": 128 + tokens}
    return _event({"choices": [], "usage": usage}) + _event("[DONE]")


_ROLE = _event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
_FIRST_WRITE = _HEAD + _chunked(_ROLE)


class Chunks:
    """Every byte string the stub writes, encoded once: the middle tokens, and each length's end."""

    def __init__(self) -> None:
        self.middle: list[bytes] = []
        self.last: dict[int, bytes] = {}
        self.whole: dict[int, bytes] = {}  # zero-delay mode: a whole response per max_tokens

    def token(self, k: int, tokens: int) -> bytes:
        if k == tokens - 1:
            end = self.last.get(tokens)
            if end is None:
                end = self.last[tokens] = _chunked(_token(k, True) + _tail(tokens)) + b"0\r\n\r\n"
            return end
        while len(self.middle) <= k:
            self.middle.append(_chunked(_token(len(self.middle), False)))
        return self.middle[k]

    def answer(self, tokens: int) -> bytes:
        whole = self.whole.get(tokens)
        if whole is None:
            events = _ROLE + b"".join(_token(k, k == tokens - 1) for k in range(tokens)) + _tail(tokens)
            whole = self.whole[tokens] = _HEAD + _chunked(events) + b"0\r\n\r\n"
        return whole


class Lateness:
    """How late the stub wrote its tokens (seconds after their due time), since the last report."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.first: list[float] = []
        self.other: list[float] = []
        self.received: list[float] = []  # when each request arrived, and its first token was written
        self.first_written: list[float] = []
        self.read_lag: list[float] = []  # from a request's arrival (kernel time) to the stub reading it
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()

    def report(self, raw: bool = False) -> dict:
        def pct(values: list[float], p: float) -> float | None:
            if not values:
                return None
            s = sorted(values)
            return s[min(len(s) - 1, int(round((len(s) - 1) * p / 100)))]

        wall = time.perf_counter() - self.wall0
        out = {"first_tokens": len(self.first), "other_tokens": len(self.other),
               "cpu_share": (time.process_time() - self.cpu0) / wall if wall > 0 else 0.0}
        for name, values in (("first", self.first), ("other", self.other), ("read", self.read_lag)):
            for p in (50, 90, 99):
                out[f"{name}_late_p{p}"] = pct(values, p)
            out[f"{name}_late_max"] = max(values, default=None)
        if raw:
            out["received"], out["first_written"] = self.received, self.first_written
        self.reset()
        return out


class Scheduler:
    """One timer for every stream: a heap of (due, order, protocol, k, tokens), on perf_counter's clock."""

    def __init__(self, chunks: Chunks, lateness: Lateness) -> None:
        self.heap: list[tuple[float, int, StubProtocol, int, int]] = []
        self.order = count()
        self.chunks, self.lateness = chunks, lateness
        self.timer: asyncio.TimerHandle | None = None
        self.armed_for = float("inf")

    def add(self, due: float, protocol: "StubProtocol", k: int, tokens: int) -> None:
        heapq.heappush(self.heap, (due, next(self.order), protocol, k, tokens))
        if due < self.armed_for:
            self._arm(due)

    def _arm(self, due: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        loop = asyncio.get_running_loop()
        self.armed_for = due
        self.timer = loop.call_later(max(0.0, due - time.perf_counter()), self._fire)

    def _fire(self) -> None:
        self.timer, self.armed_for = None, float("inf")
        heap, first, other = self.heap, self.lateness.first, self.lateness.other
        now = time.perf_counter()
        while heap and heap[0][0] <= now + _EARLY:
            due, _, protocol, k, tokens = heapq.heappop(heap)
            transport = protocol.transport
            if transport is None or transport.is_closing():
                continue
            transport.write(self.chunks.token(k, tokens))
            written = time.perf_counter()
            if k == 0:
                first.append(written - due)
                self.lateness.first_written.append(written)
            else:
                other.append(written - due)
            if k + 1 < tokens:
                heapq.heappush(heap, (protocol.received + protocol.ttft + (k + 1) * protocol.itl,
                                      next(self.order), protocol, k + 1, tokens))
            now = time.perf_counter()
        if heap:
            self._arm(heap[0][0])


class Connection:
    """One accepted socket, read with ``recvmsg`` so each request's arrival is the kernel's receive
    time: a stub busy elsewhere when a request comes in still counts its delays from the arrival, so
    its own lag does not leak into the TTFT it promises. Writes go straight to the socket (what does
    not fit waits for writability)."""

    def __init__(self, sock: socket.socket, protocol: "StubProtocol") -> None:
        self.sock, self.protocol = sock, protocol
        self.loop = asyncio.get_running_loop()
        self.pending = bytearray()
        self.closed = False
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        protocol.transport = self
        self.loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data, ancillary, _, _ = self.sock.recvmsg(1 << 16, _STAMP_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, ancillary = b"", []
        if not data:
            self.close()
            return
        now = time.perf_counter()
        received = now
        for level, kind, stamp in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(stamp) >= 16:
                seconds, nanos = struct.unpack("qq", stamp[:16])
                kernel = seconds + nanos * 1e-9 - (time.time() - time.perf_counter())
                received = min(now, kernel)
        self.protocol.data_received(data, received)

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        if self.pending:
            self.pending += data
            return
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.close()
            return
        if sent < len(data):
            self.pending += data[sent:]
            self.loop.add_writer(self.sock.fileno(), self._writable)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        del self.pending[:sent]
        if not self.pending:
            self.loop.remove_writer(self.sock.fileno())

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.sock.fileno())
        self.loop.remove_writer(self.sock.fileno())
        self.sock.close()
        self.protocol.transport = None


class StubProtocol:
    def __init__(self, ttft: float, itl: float, scheduler: Scheduler):
        self.ttft, self.itl, self.scheduler = ttft, itl, scheduler
        self.buffer = b""
        self.received = 0.0
        self.transport: Connection | None = None

    def data_received(self, data: bytes, received: float) -> None:
        if received < time.perf_counter():
            self.scheduler.lateness.read_lag.append(time.perf_counter() - received)
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            match = _LENGTH.search(head)
            length = int(match.group(1)) if match else 0
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4:head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length:]
            self._answer(head, body, received)

    def _answer(self, head: bytes, body: bytes, received: float) -> None:
        assert self.transport is not None
        if head.startswith(b"get"):
            lateness = self.scheduler.lateness
            stats = lateness.report(raw=head.startswith(b"get /stats?raw")) if head.startswith(b"get /stats") else None
            self.transport.write(_json_response(stats or {"status": "ok"}))
            return
        match = _MAX_TOKENS.search(body)
        tokens = int(match.group(1)) if match else 16
        if self.ttft <= 0 and self.itl <= 0:
            self.transport.write(self.scheduler.chunks.answer(tokens))
            return
        self.transport.write(_FIRST_WRITE)
        self.received = received
        self.scheduler.lateness.received.append(received)
        self.scheduler.add(received + self.ttft, self, 0, tokens)



async def serve(host: str, port: int, ttft: float, itl: float) -> None:
    loop = asyncio.get_running_loop()
    scheduler = Scheduler(Chunks(), Lateness())
    listener = socket.create_server((host, port), backlog=1024)
    listener.setblocking(False)
    try:  # on the listener: a connection's first request arrives before it is accepted, and inherits this
        listener.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        pass  # no kernel stamps: arrivals are read times

    def accept() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            Connection(sock, StubProtocol(ttft, itl, scheduler))

    loop.add_reader(listener.fileno(), accept)
    print(f"READY {listener.getsockname()[1]}", flush=True)
    try:
        await loop.create_future()  # serve until the process is stopped (or this task cancelled)
    finally:
        loop.remove_reader(listener.fileno())
        listener.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ttft", type=float, default=0.0, help="seconds to the first token")
    p.add_argument("--itl", type=float, default=0.0, help="seconds between tokens")
    p.add_argument("--priority", type=int, default=0, metavar="N",
                   help="run N nice levels above normal (needs the privilege): on a shared machine the stub "
                        "stands in for a server on hardware of its own, so it should not queue for a core")
    args = p.parse_args()
    if args.priority:
        try:
            os.nice(-args.priority)
        except PermissionError:
            p.error(f"--priority {args.priority}: raising the priority needs root (CAP_SYS_NICE); use 0")
    try:
        import uvloop
        run = uvloop.run
    except ImportError:
        run = asyncio.run
    run(serve(args.host, args.port, args.ttft, args.itl))


if __name__ == "__main__":
    main()
