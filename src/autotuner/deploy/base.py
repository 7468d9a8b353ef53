"""What every deployer shares: how to launch an engine, where it listens, how it fails."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from ..engines.launch import LaunchSpec  # re-exported: the deployers take what the adapters write

FAILURE_REASONS = ("oom", "crash", "timeout", "cancelled", "unavailable")
# Phrases engines print when the model or KV cache does not fit (PyTorch, CUDA, SGLang, vLLM, llama.cpp).
OOM_MARKERS = ("out of memory", "outofmemoryerror", "not enough memory", "no available memory")


@dataclass
class Endpoint:
    base_url: str
    model_name: str


class DeploymentError(Exception):
    """A start that failed. ``reason``: oom | crash | timeout | cancelled | unavailable."""

    def __init__(self, reason: str, message: str, log_tail: str = "", log_path: Path | None = None):
        if reason not in FAILURE_REASONS:
            raise ValueError(f"DeploymentError reason {reason!r} is not one of {', '.join(FAILURE_REASONS)}")
        self.reason, self.message, self.log_tail, self.log_path = reason, message, log_tail, log_path
        super().__init__(f"{reason}: {message}" + (f"\n{log_tail}" if log_tail else ""))


def mentions_oom(log_text: str) -> bool:
    lowered = log_text.lower()
    return any(marker in lowered for marker in OOM_MARKERS)


def classify_start_failure(log_text: str) -> str:
    """'oom' when the engine's output says memory ran out, else 'crash'."""
    return "oom" if mentions_oom(log_text) else "crash"


def last_lines(text: str, lines: int) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:]) if lines > 0 else ""


class Deployment(ABC):
    """A running engine. Use as a context manager so that it is stopped on every way out."""

    endpoint: Endpoint
    log_path: Path
    gpus: list[int]
    stop_deadline: float | None = None  # time.monotonic() by which stop() should be done, when it can bound it

    @abstractmethod
    def stop(self) -> None:
        """Tear the engine down; idempotent, never raises."""

    @abstractmethod
    def log_tail(self, lines: int = 40) -> str: ...

    def alive(self) -> bool:
        """Is the engine still running? Deployments that cannot tell (a cluster restarts its pods)
        answer True; their deaths show up as failed requests."""
        return True

    def __enter__(self) -> "Deployment":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Deployer(ABC):
    """Starts engines. Besides ``deploy``, what every deployer can answer (defaults: it cannot tell)."""

    # True when ``reap_leftovers()`` removes only engines whose owning tuner is gone, so it is safe
    # while other tuners run the same task.
    leftovers_are_orphans: bool = False

    @abstractmethod
    def deploy(self, spec: LaunchSpec, name: str, gpus: list[int], startup_timeout: float,
               cancel: threading.Event | None = None) -> Deployment:
        """Start the engine and wait until it is ready; on failure tear it down and raise DeploymentError."""

    def reap_leftovers(self, experiment: str | None = None) -> list[str]:
        """Remove engines that a killed tuner left behind (only ``experiment``'s, when named);
        returns one description per engine removed."""
        return []

    def log_path(self, name: str) -> Path | None:
        """Where experiment ``name``'s engine log is (or will be) written; None when it keeps none."""
        return None

    def capacity(self) -> int | None:
        """How many GPUs it can place engines on right now (a cluster's allocatable GPUs); None when
        it cannot tell, and the task's own GPU list holds."""
        return None
