#!/usr/bin/env python
"""A streaming OpenAI-API stub that costs next to nothing per token, for measuring load generators.

    python benchmarks/stream_stub.py --port 0 [--ttft 0.1 --itl 0.02]   # prints "READY <port>"

With zero delays (the default) a whole streamed answer is one pre-built buffer written at once, so
the stub serves thousands of tokens per second from a fraction of a core and the client is what the
measurement sees. With ``--ttft``/``--itl`` each token is written at its absolute due time (arrival
+ ttft + k * itl, one timer per token), so a client's TTFT/ITL can be checked against known values.
A raw asyncio protocol (HTTP/1.1, keep-alive, Content-Length bodies): aiohttp's per-write cost
would make the stub, not the client, the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re

_MAX_TOKENS = re.compile(rb'"max_tokens"\s*:\s*(\d+)')
_LENGTH = re.compile(rb"content-length:\s*(\d+)")
_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n")
_HEALTH = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"status":"ok"}'
_CHUNK = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": "stub"}


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


class StubProtocol(asyncio.Protocol):
    answers: dict[int, bytes] = {}  # max_tokens -> the whole zero-delay response, built once

    def __init__(self, ttft: float, itl: float):
        self.ttft, self.itl = ttft, itl
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
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
            self._answer(head, body)

    def _answer(self, head: bytes, body: bytes) -> None:
        assert self.transport is not None
        if head.startswith(b"get"):
            self.transport.write(_HEALTH)
            return
        match = _MAX_TOKENS.search(body)
        tokens = int(match.group(1)) if match else 16
        if self.ttft <= 0 and self.itl <= 0:
            answer = self.answers.get(tokens)
            if answer is None:
                events = _ROLE + b"".join(_token(k, k == tokens - 1) for k in range(tokens)) + _tail(tokens)
                answer = self.answers[tokens] = _HEAD + _chunked(events) + b"0\r\n\r\n"
            self.transport.write(answer)
            return
        self.transport.write(_HEAD + _chunked(_ROLE))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for k in range(tokens):  # absolute due times: no drift from late timers
            loop.call_at(t0 + self.ttft + k * self.itl, self._write_token, k, tokens)

    def _write_token(self, k: int, tokens: int) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        data = _token(k, k == tokens - 1)
        if k == tokens - 1:
            self.transport.write(_chunked(data + _tail(tokens)) + b"0\r\n\r\n")
        else:
            self.transport.write(_chunked(data))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int, ttft: float, itl: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: StubProtocol(ttft, itl), host, port, backlog=1024)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ttft", type=float, default=0.0, help="seconds to the first token")
    p.add_argument("--itl", type=float, default=0.0, help="seconds between tokens")
    args = p.parse_args()
    try:
        import uvloop
        run = uvloop.run
    except ImportError:
        run = asyncio.run
    run(serve(args.host, args.port, args.ttft, args.itl))


if __name__ == "__main__":
    main()
