"""A small OpenAI-compatible streaming server with known timings, for testing the benchmark client.

Every request streams: a role-only chunk at once (chat), the first token after ``ttft`` seconds, then
one token every ``itl`` seconds, and ``usage`` in a final chunk. Options inject HTTP 500s, slow
requests, and the keep-alive trouble of llama.cpp's server (connections dropped when reused or idle).

In-process (a thread with its own event loop)::

    with FakeOpenAIServer(ttft=0.1, itl=0.02) as server:
        benchmark(server.base_url, "fake", workload)
        server.stats["requests"]

As a process (its own core, for load tests): ``python -m tests.fake_openai_server --port 0 --ttft 0.05``
prints ``READY <port>``; see ``spawn``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterator

from aiohttp import web


@dataclass
class FakeOptions:
    ttft: float = 0.1
    itl: float = 0.02
    tokens: int | None = None  # tokens per answer; None: the request's max_tokens
    usage: bool = True  # send usage in the final chunk
    role_chunk: bool = True  # chat: a role-only chunk before any content (must not count as a token)
    fail_every: int = 0  # every Nth request (1-based) answers HTTP 500
    slow_every: int = 0  # every Nth request waits ``slow_extra`` more before its first token
    slow_extra: float = 0.0
    drop_reused_every: int = 0  # every Nth request on a reused connection: close it without answering
    keepalive_timeout: float = 75.0  # close idle kept-alive connections after this many seconds
    cut_after: int = 0  # abort the connection after this many tokens (0: never)
    json_answer: bool = False  # ignore "stream" and answer one JSON object
    exit_after: int = 0  # faults: the process exits (code 1) when request N+1 arrives (0: never)
    hang_after: int = 0  # requests after the Nth never answer; the port stays open (0: never)


class FakeOpenAIServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options):
        self.options = FakeOptions(**options)
        self.host, self.port = host, port
        self.stats = {"requests": 0, "dropped": 0, "failed": 0, "connections": 0, "max_in_flight": 0}
        self.bodies: list[dict] = []
        # (prompt, arrival, first token written) on the monotonic clock that time.perf_counter
        # also reads on Linux: lets a test split latency into server time and client overhead.
        self.timings: list[tuple[str, float, float]] = []
        self._in_flight = 0
        self._uses: dict[object, int] = {}  # transport -> requests seen (keeps transports alive: ids stay unique)
        self._reused = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- the app ------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        async def chat(request: web.Request) -> web.StreamResponse:
            return await self._complete(request, chat=True)

        async def completions(request: web.Request) -> web.StreamResponse:
            return await self._complete(request, chat=False)

        async def health(request: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def stats(request: web.Request) -> web.Response:
            return web.json_response(self.stats)

        async def timings(request: web.Request) -> web.Response:
            return web.json_response(self.timings)

        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_post("/v1/completions", completions)
        app.router.add_get("/health", health)
        app.router.add_get("/stats", stats)
        app.router.add_get("/timings", timings)
        return app

    async def _complete(self, request: web.Request, chat: bool) -> web.StreamResponse:
        opts = self.options
        t0 = asyncio.get_running_loop().time()
        body = await request.json()
        self.stats["requests"] += 1
        n = self.stats["requests"]
        self.bodies.append(body)
        transport = request.transport
        uses = self._uses.get(transport, 0)
        self._uses[transport] = uses + 1
        if uses == 0:
            self.stats["connections"] += 1
        elif opts.drop_reused_every:
            self._reused += 1
            if self._reused % opts.drop_reused_every == 0 and transport is not None:
                self.stats["dropped"] += 1
                transport.abort()  # like a server that closed the kept-alive socket: no answer at all
                return web.Response(status=204)
        if opts.exit_after and n > opts.exit_after:
            print(f"fake engine: exiting at request {n}", flush=True)
            os._exit(1)
        if opts.hang_after and n > opts.hang_after:
            await asyncio.sleep(3600)
        if opts.fail_every and n % opts.fail_every == 0:
            self.stats["failed"] += 1
            return web.json_response({"error": {"message": "injected failure", "code": 500}}, status=500)
        self._in_flight += 1
        self.stats["max_in_flight"] = max(self.stats["max_in_flight"], self._in_flight)
        try:
            return await self._stream(request, body, chat, t0, n)
        finally:
            self._in_flight -= 1

    async def _stream(self, request: web.Request, body: dict, chat: bool, t0: float, n: int) -> web.StreamResponse:
        opts, loop = self.options, asyncio.get_running_loop()
        tokens = opts.tokens if opts.tokens is not None else int(body.get("max_tokens") or 16)
        ttft = opts.ttft + (opts.slow_extra if opts.slow_every and n % opts.slow_every == 0 else 0.0)
        prompt = body.get("prompt") if not chat else " ".join(m.get("content", "") for m in body["messages"])
        prompt_tokens = len(str(prompt).split())
        if opts.json_answer:
            await asyncio.sleep(ttft + (tokens - 1) * opts.itl)
            text = "".join(f"w{k} " for k in range(tokens))
            choice = ({"index": 0, "message": {"role": "assistant", "content": text}} if chat
                      else {"index": 0, "text": text})
            return web.json_response({"choices": [choice], "usage": {
                "prompt_tokens": prompt_tokens, "completion_tokens": tokens, "total_tokens": prompt_tokens + tokens}})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        base = {"id": f"cmpl-{n}", "object": "chat.completion.chunk" if chat else "text_completion",
                "model": body.get("model", "fake")}

        async def send(payload: dict | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps({**base, **payload})
            await response.write(f"data: {data}\n\n".encode())

        if chat and opts.role_chunk:
            await send({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        for k in range(tokens):
            delay = t0 + ttft + k * opts.itl - loop.time()  # absolute schedule: no drift
            if delay > 0:
                await asyncio.sleep(delay)
            finish = "length" if k == tokens - 1 else None
            word = f"w{k} "
            choice = ({"index": 0, "delta": {"content": word}, "finish_reason": finish} if chat
                      else {"index": 0, "text": word, "finish_reason": finish})
            await send({"choices": [choice]})
            if k == 0:
                self.timings.append((str(prompt), t0, loop.time()))
            if opts.cut_after and k + 1 >= opts.cut_after and request.transport is not None:
                request.transport.abort()
                return response
        if opts.usage:
            await send({"choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": tokens,
                                                 "total_tokens": prompt_tokens + tokens}})
        await send("[DONE]")
        await response.write_eof()
        return response

    # --- running it in a thread ---------------------------------------------------------------------

    def start(self) -> "FakeOpenAIServer":
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as e:  # a bind failure: report it to start()
                failure.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            pending = asyncio.all_tasks(loop)  # handlers still sleeping past the shutdown timeout
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-openai-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    async def _start_site(self) -> None:
        self._runner = web.AppRunner(self.app(), keepalive_timeout=self.options.keepalive_timeout,
                                     access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- as a separate process ----------------------------------------------------------------------------

@contextmanager
def spawn(**options) -> Iterator[str]:
    """Run the server in a child process (its own interpreter and core); yields the base URL."""
    argv = [sys.executable, "-m", "tests.fake_openai_server", "--port", "0"]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("READY "):
            raise RuntimeError(f"fake server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    for f in fields(FakeOptions):
        default = FakeOptions().__getattribute__(f.name)
        kind = {"bool": lambda s: s.lower() in ("1", "true", "yes"), "float": float, "int": int}.get(
            str(f.type).split(" ")[0], lambda s: None if s == "None" else int(s))
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=default)
    args = vars(parser.parse_args(argv))
    host, port = args.pop("host"), args.pop("port")
    server = FakeOpenAIServer(host, port, **args).start()
    print(f"READY {server.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
