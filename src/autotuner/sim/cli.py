"""``python -m autotuner.sim [simulator flags] <SGLang or vLLM flags>``: run the simulated engine's server.

Start-up follows the real engine: parse flags (exit 2 on a bad one), load the model shape and lay
out memory (an out-of-memory or layout failure prints the engine's message to stderr and exits 1
before any port is bound), bind, then answer ``/health`` with 503 for ``--startup-seconds`` before
logging the engine's ready line. SIGTERM or SIGINT stops it cleanly (exit 0).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from datetime import datetime

from aiohttp import web

from .config import parse_engine_args
from .engine import SimEngine
from .errors import SimConfigError, SimStartupError

READY_LINE = {"sglang": "The server is fired up and ready to roll!", "vllm": "Application startup complete.",
              "trtllm": "Application startup complete."}


def log(personality: str, message: str, stream=None) -> None:
    now = datetime.now()
    if personality == "vllm":
        prefix = f"INFO {now:%m-%d %H:%M:%S} [sim]"
    else:
        prefix = f"[{now:%Y-%m-%d %H:%M:%S}]"
    print(f"{prefix} {message}", file=stream or sys.stdout, flush=True)


def _personality(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg == "--personality" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--personality="):
            return arg.split("=", 1)[1]
    return "sglang"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip())
        return 0
    personality = _personality(argv)
    try:
        config = parse_engine_args(argv)
        if config.ignored:
            print(f"WARNING: the simulated {personality} ignores these flags: {' '.join(config.ignored)}",
                  file=sys.stderr, flush=True)
        engine = SimEngine.from_argv(argv)
    except SimConfigError as e:
        print(e.usage.rstrip(), file=sys.stderr)
        print(e.message, file=sys.stderr, flush=True)
        return e.exit_code
    except SimStartupError as e:
        for line in e.message.splitlines():
            print(line, file=sys.stderr)
        sys.stderr.flush()
        return e.exit_code
    for line in engine.startup_lines():
        log(personality, line)
    try:
        return asyncio.run(serve(engine))
    except KeyboardInterrupt:
        return 0


async def serve(engine: SimEngine) -> int:
    from .server import SimServer  # aiohttp only for the real-time server

    cfg = engine.config
    startup = cfg.startup_seconds
    if cfg.startup_model:
        from .startup import simulated_startup
        startup, line = simulated_startup(engine, os.environ)
        log(cfg.personality, line)
    server = SimServer(engine, ready_at=time.monotonic() + startup)
    runner = web.AppRunner(server.app(), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, cfg.host, cfg.port)
    try:
        await site.start()
    except OSError as e:
        log(cfg.personality, f"ERROR: [Errno {e.errno}] error while attempting to bind on address "
                             f"({cfg.host!r}, {cfg.port}): {e.strerror}", sys.stderr)
        await runner.cleanup()
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if cfg.personality in ("sglang", "trtllm"):
        log(cfg.personality, f"Uvicorn running on http://{cfg.host}:{cfg.port} (Press CTRL+C to quit)")
    else:
        log(cfg.personality, f"Starting vLLM API server on http://{cfg.host}:{cfg.port}")
    try:
        try:
            await asyncio.wait_for(stop.wait(), timeout=startup)
        except TimeoutError:
            log(cfg.personality, READY_LINE[cfg.personality])
            await stop.wait()
        log(cfg.personality, "Shutting down")
    finally:
        await runner.cleanup()
    return 0
