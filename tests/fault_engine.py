"""A misbehaving OpenAI-compatible engine, for fault-injection tests: run as a local-deployment engine.

It answers like ``llama-server`` enough to stand in for it (``--version``, ``GET /health``, streamed
``/v1/chat/completions`` and ``/v1/completions``; unknown flags ignored), then misbehaves as ``--fault``
says, once ``--after`` requests have been answered:

  healthy         no fault (the control)
  crash           the process exits (code 3) when request ``after + 1`` arrives
  hang            every later request (and /health) is accepted and never answered; the port stays open
  errors          a fraction ``--fraction`` of the requests answer HTTP 500
  stall           every later request streams a few tokens, then goes silent with the connection open
  malformed       every later request streams a chunk that is not JSON
  never_ready     /health answers 503 forever
  ignore_sigterm  like ``hang``, and SIGTERM is ignored (only SIGKILL ends it)

``write_wrapper`` writes an executable that starts this engine with a fault, for
``AUTOTUNER_LLAMA_SERVER``; ``dummy_gguf`` a file that passes for a GGUF model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

FAULTS = ("healthy", "crash", "hang", "stall", "errors", "malformed", "never_ready", "ignore_sigterm")
VERSION_TEXT = "version: 0.6.0-dev (fault engine)\n"
TOKEN_GAP = 0.002  # seconds between streamed tokens
STALL_AFTER_TOKENS = 3


class FaultEngine:
    def __init__(self, fault: str, after: int, fraction: float):
        if fault not in FAULTS:
            raise SystemExit(f"--fault must be one of {', '.join(FAULTS)} (got {fault!r})")
        self.fault, self.after, self.fraction = fault, after, fraction
        self.answered = 0  # requests that arrived, in order
        self.errors_sent = 0

    def faulty(self) -> bool:
        return self.answered > self.after

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_post("/v1/chat/completions", lambda r: self.complete(r, chat=True))
        app.router.add_post("/v1/completions", lambda r: self.complete(r, chat=False))
        return app

    async def health(self, request: web.Request) -> web.Response:
        if self.fault == "never_ready":
            return web.json_response({"status": "loading"}, status=503)
        if self.fault in ("hang", "ignore_sigterm") and self.faulty():
            await asyncio.Event().wait()
        return web.json_response({"status": "ok"})

    async def complete(self, request: web.Request, chat: bool) -> web.StreamResponse:
        body = await request.json()
        self.answered += 1
        if self.fault == "crash" and self.faulty():
            print(f"fault engine: crashing at request {self.answered}", flush=True)
            os._exit(3)
        if self.fault in ("hang", "ignore_sigterm") and self.faulty():
            await asyncio.Event().wait()
        if self.fault == "errors" and self.faulty():
            # Deterministic fraction: error whenever the running error count falls behind the target.
            if self.errors_sent < self.fraction * (self.answered - self.after):
                self.errors_sent += 1
                return web.json_response({"error": {"message": "injected 500", "code": 500}}, status=500)
        return await self.stream(request, body, chat)

    async def stream(self, request: web.Request, body: dict, chat: bool) -> web.StreamResponse:
        tokens = int(body.get("max_tokens") or 16)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        kind = "chat.completion.chunk" if chat else "text_completion"
        for k in range(tokens):
            if self.fault == "stall" and self.faulty() and k == STALL_AFTER_TOKENS:
                await asyncio.Event().wait()
            if self.fault == "malformed" and self.faulty() and k == 1:
                await response.write(b"data: {\"choices\": [{\"delta\": {\"content\": \"x\"\n\n")
                continue
            word = f"w{k} "
            choice = {"index": 0, "delta": {"content": word}} if chat else {"index": 0, "text": word}
            await response.write(f"data: {json.dumps({'object': kind, 'choices': [choice]})}\n\n".encode())
            await asyncio.sleep(TOKEN_GAP)
        prompt_words = len(json.dumps(body.get("messages") or body.get("prompt") or "").split())
        usage = {"prompt_tokens": prompt_words, "completion_tokens": tokens}
        await response.write(f"data: {json.dumps({'object': kind, 'choices': [], 'usage': usage})}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def write_wrapper(path: Path, fault: str, after: int = 0, fraction: float = 0.5) -> Path:
    """An executable script that runs this engine with ``fault`` (for ``AUTOTUNER_LLAMA_SERVER``)."""
    path.write_text(f"#!/bin/sh\nexec {sys.executable} {Path(__file__).resolve()} --fault {fault} "
                    f"--after {after} --fraction {fraction} \"$@\"\n")
    path.chmod(0o755)
    return path


def dummy_gguf(path: Path) -> Path:
    """A file that starts like a GGUF model (the fault engine never reads it)."""
    path.write_bytes(b"GGUF" + bytes(60))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fault", default="healthy")
    parser.add_argument("--after", type=int, default=0, help="requests answered well before the fault")
    parser.add_argument("--fraction", type=float, default=0.5, help="errors: the share of requests that fail")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--version", action="store_true")
    args, _ignored = parser.parse_known_args(argv)  # the engine flags the tuner passes
    if args.version:
        sys.stdout.write(VERSION_TEXT)
        return
    if args.fault == "ignore_sigterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    engine = FaultEngine(args.fault, args.after, args.fraction)
    print(f"fault engine: {args.fault} after {args.after} requests, on {args.host}:{args.port}", flush=True)
    web.run_app(engine.app(), host=args.host, port=args.port, print=None, access_log=None,
                handle_signals=args.fault != "ignore_sigterm")


if __name__ == "__main__":
    main()
