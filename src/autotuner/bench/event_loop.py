"""The event loop a benchmark runs in, in the tuner's process and in each client process."""

from __future__ import annotations

import asyncio
from typing import Awaitable, TypeVar

T = TypeVar("T")


def run_loop(main: Awaitable[T]) -> T:
    """Run ``main`` in a fresh event loop: uvloop's when installed (less client CPU per
    request than asyncio's), so the client is less often what limits a level."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)  # type: ignore[arg-type]
    return uvloop.run(main)  # type: ignore[arg-type]
