"""Which GPUs are free for the next experiment, and which GPUs the machine has.

``GpuPool`` hands out disjoint sets of GPU ids to concurrent experiments, first come first served (a
request for 4 GPUs is not starved by a stream of 1-GPU requests). ``discover_gpus`` asks nvidia-smi.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

log = logging.getLogger(__name__)

BUSY_MEMORY_MIB = 1024  # a GPU with more memory in use than this runs something else
_CANCEL_POLL = 0.1


class PoolCancelled(Exception):
    """``acquire`` gave up because its cancel event was set."""


class GpuPool:
    def __init__(self, ids: list[int]):
        ids = list(ids)
        bad = [i for i in ids if not isinstance(i, int) or isinstance(i, bool) or i < 0]
        if bad:
            raise ValueError(f"GPU ids must be non-negative integers, got {bad}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"GPU ids must be distinct, got {ids}")
        self._ids = tuple(ids)
        self._free = set(ids)
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()  # waiting requests, oldest first

    @property
    def ids(self) -> list[int]:
        return list(self._ids)

    @property
    def total(self) -> int:
        return len(self._ids)

    @property
    def free(self) -> list[int]:
        with self._cond:
            return sorted(self._free)

    def acquire(self, n: int, timeout: float | None = None, cancel: threading.Event | None = None) -> list[int]:
        """Block until ``n`` GPUs are free and take them (lowest ids first).

        Raises ValueError when ``n`` can never be met, TimeoutError after ``timeout`` seconds,
        PoolCancelled as soon as ``cancel`` is set.
        """
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"number of GPUs must be a non-negative integer, got {n!r}")
        if n > len(self._ids):
            raise ValueError(f"asked for {n} GPUs but the pool has only {len(self._ids)} "
                             f"(ids {list(self._ids)})")
        if n == 0:
            return []
        deadline = None if timeout is None else time.monotonic() + timeout
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            try:
                while True:
                    if cancel is not None and cancel.is_set():
                        raise PoolCancelled(f"cancelled while waiting for {n} GPUs")
                    if self._queue[0] is ticket and len(self._free) >= n:
                        taken = sorted(self._free)[:n]
                        self._free.difference_update(taken)
                        return taken
                    wait = _CANCEL_POLL if cancel is not None else None
                    if deadline is not None:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise TimeoutError(f"no {n} free GPUs within {timeout:g} s "
                                               f"(free: {sorted(self._free)} of {list(self._ids)})")
                        wait = left if wait is None else min(wait, left)
                    self._cond.wait(wait)
            finally:
                self._queue.remove(ticket)
                self._cond.notify_all()  # the next in line may now be served

    def release(self, ids: list[int]) -> None:
        with self._cond:
            foreign = [i for i in ids if i not in self._ids]
            if foreign:
                raise ValueError(f"GPU ids {foreign} are not in this pool ({list(self._ids)})")
            already = [i for i in ids if i in self._free]
            if already:
                raise ValueError(f"GPU ids {already} were released twice")
            self._free.update(ids)
            self._cond.notify_all()

    @contextmanager
    def lease(self, n: int, timeout: float | None = None,
              cancel: threading.Event | None = None) -> Iterator[list[int]]:
        ids = self.acquire(n, timeout, cancel)
        try:
            yield ids
        finally:
            self.release(ids)


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    memory_total_mib: float | None
    memory_used_mib: float | None
    utilization_pct: float | None

    @property
    def busy(self) -> bool:
        return self.memory_used_mib is not None and self.memory_used_mib > BUSY_MEMORY_MIB


NVIDIA_SMI_QUERY = ["--query-gpu=index,name,memory.total,memory.used,utilization.gpu",
                    "--format=csv,noheader,nounits"]


def _run_nvidia_smi(args: list[str]) -> str | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("nvidia-smi failed: %s", e)
        return None
    if done.returncode != 0:
        log.warning("nvidia-smi exited with %s: %s", done.returncode, done.stderr.strip()[-300:])
        return None
    return done.stdout


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def parse_gpu_query(output: str) -> list[GpuInfo]:
    """Rows of ``index, name, memory.total, memory.used, utilization.gpu``; malformed rows are skipped."""
    gpus = []
    for line in output.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5 or not parts[0].isdigit():
            continue
        name = ", ".join(parts[1:-3])  # a name with a comma in it spans several fields
        total, used, util = (_number(p) for p in parts[-3:])
        gpus.append(GpuInfo(int(parts[0]), name, total, used, util))
    return gpus


def discover_gpus(runner: Callable[[list[str]], str | None] = _run_nvidia_smi) -> list[GpuInfo]:
    """The machine's NVIDIA GPUs; [] without nvidia-smi or when it fails.

    ``runner(args) -> stdout or None`` runs nvidia-smi with the given arguments (replaceable in tests).
    """
    output = runner(NVIDIA_SMI_QUERY)
    return parse_gpu_query(output) if output else []
