"""Start ``autotuner serve`` / ``autotuner worker`` as real processes for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def sim_available() -> bool:
    """The simulated engine can be started (``python -m autotuner.sim``)."""
    return (ROOT / "src" / "autotuner" / "sim" / "__main__.py").is_file()


def require_sim() -> None:
    if not sim_available():
        pytest.skip("the simulated engine (python -m autotuner.sim) is not available in this tree")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(command: str, *args: str) -> list[str]:
    """The ``autotuner`` command line (the module, so the test's interpreter and tree are used)."""
    from autotuner.cli.main import app

    if any(c.name == command for c in app.registered_commands):
        return [sys.executable, "-m", "autotuner", command, *args]
    # Not registered in cli/main.py yet: the same Typer function, run directly.
    code = f"import typer; from autotuner.cli.serve_cmd import {command}; typer.run({command})"
    return [sys.executable, "-c", code, *args]


def _stop(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def process(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"})
    try:
        yield proc
    finally:
        _stop(proc)


@contextmanager
def serve(db: str, tmp: Path, workers: int = 1, env: dict[str, str] | None = None,
          extra: tuple[str, ...] = ()) -> Iterator[str]:
    """A running server; yields its base URL."""
    port = free_port()
    argv = cli("serve", "--port", str(port), "--db", db, "--workers", str(workers), "--out", str(tmp / "runs"),
               "--log-level", "warning", *extra)
    log = tmp / f"serve-{port}.log"
    with process(argv, log, env) as proc:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/api/tasks", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base


@contextmanager
def worker(db: str, tmp: Path, *extra: str) -> Iterator[subprocess.Popen]:
    log = tmp / f"worker-{time.monotonic_ns()}.log"
    with process(cli("worker", "--db", db, "--poll-seconds", "0.2", *extra), log) as proc:
        yield proc


def sse_events(url: str, timeout: float = 180.0) -> list[dict]:
    """Every message of an event stream until the server ends it."""
    events = []
    with httpx.stream("GET", url, timeout=httpx.Timeout(timeout, connect=10)) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def engine_processes(marker: str) -> list[int]:
    """PIDs of simulated engines whose command line contains ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = [a.decode(errors="replace") for a in argv]
        if "autotuner.sim" in text and any(marker in a for a in text):
            pids.append(int(entry.name))
    return pids
