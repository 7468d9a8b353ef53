"""The fake kubelet's containers: each engine container runs as the simulated engine on a local port.

A container's ``command`` + ``args`` (after ``$(VAR)`` expansion from its environment, as Kubernetes
does) names a real engine (``python3 -m sglang.launch_server``, ``vllm serve``,
``python3 -m vllm.entrypoints.openai.api_server``) or the simulated one (``python3 -m autotuner.sim``).
It is a fake, so either way it runs ``python -m autotuner.sim --personality <engine>`` with the same
flags, its own ``--host 127.0.0.1 --port <free port>``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

OOM_MARKERS = ("out of memory", "outofmemoryerror", "not enough memory", "no available memory")
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class UnsupportedCommand(ValueError):
    pass


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined variables are replaced, ``$$`` escapes, others stay."""
    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _VAR.sub(one, text)


def _without_host_port(args: list[str]) -> list[str]:
    out, skip = [], False
    for token in args:
        if skip:
            skip = False
            continue
        if token in ("--host", "--port"):
            skip = True
            continue
        if token.startswith(("--host=", "--port=")):
            continue
        out.append(token)
    return out


def simulator_argv(container: dict[str, Any], env: dict[str, str], port: int) -> list[str]:
    argv = [expand(t, env) for t in (container.get("command") or []) + (container.get("args") or [])]
    personality, rest = None, None
    for i, token in enumerate(argv):
        if token == "-m" and i + 1 < len(argv):
            module = argv[i + 1]
            if module == "autotuner.sim":
                personality, rest = "", argv[i + 2:]
            elif module.startswith("sglang."):
                personality, rest = "sglang", argv[i + 2:]
            elif module.startswith("vllm."):
                personality, rest = "vllm", argv[i + 2:]
            break
        if Path(token).name == "vllm" and i + 1 < len(argv) and argv[i + 1] == "serve":
            personality, rest = "vllm", argv[i + 2:]
            break
    if rest is None:
        raise UnsupportedCommand(f"the fake cluster cannot run {argv[:4]}")
    prefix = ["--personality", personality] if personality else []
    return [sys.executable, "-m", "autotuner.sim", *prefix, *_without_host_port(rest),
            "--host", "127.0.0.1", "--port", str(port)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EngineProcess:
    """One container's process; ``on_ready()`` / ``on_exit(code, log_tail)`` are called from its monitor."""

    def __init__(self, container: dict[str, Any], env: dict[str, str], log_path: Path,
                 on_ready: Callable[[], None], on_exit: Callable[[int, str], None]):
        self.port = free_port()
        self.argv = simulator_argv(container, env, self.port)
        self.log_path = log_path
        probe = ((container.get("readinessProbe") or {}).get("httpGet") or {}).get("path") or "/health"
        self.probe_paths = [probe] if probe == "/health" else [probe, "/health"]
        self._on_ready, self._on_exit = on_ready, on_exit
        self._stopping = threading.Event()
        self.ready = False
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                                         start_new_session=True)
        threading.Thread(target=self._monitor, daemon=True, name=f"fake-kubelet-{self.port}").start()

    def _healthy(self) -> bool:
        for path in self.probe_paths:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=1) as r:
                    return r.status == 200
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    return False
            except OSError:
                return False
        return False

    def _monitor(self) -> None:
        while not self._stopping.is_set():
            code = self.proc.poll()
            if code is not None:
                if not self._stopping.is_set():
                    self._on_exit(code, self.log_tail())
                return
            if not self.ready and self._healthy():
                self.ready = True
                self._on_ready()
            self._stopping.wait(0.05 if not self.ready else 0.2)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 5.0) -> None:
        self._stopping.set()
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass


def mentions_oom(text: str) -> bool:
    lowered = text.lower()
    return any(m in lowered for m in OOM_MARKERS)

