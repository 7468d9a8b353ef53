"""The random streams of one load level.

This is a contract: the simulated engine's virtual-time mode builds the same streams to replay the
exact request shapes and arrival times a real benchmark would send. Values are formatted as
``Workload.levels()`` returns them (``concurrency``/``rate`` may be ``None``, rates are floats).
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def shape_rng(seed: int, scenario: str, concurrency: int | None, rate: float | None) -> random.Random:
    """Request shapes: warm-up shapes first, then the measured ones, one ``Scenario.sample`` each."""
    return random.Random(f"{seed}:{scenario}:{concurrency}:{rate}")


def prompt_rng(seed: int, scenario: str, concurrency: int | None, rate: float | None) -> random.Random:
    """Prompt words (a separate stream, so shapes do not depend on how many words a prompt drew)."""
    return random.Random(f"{seed}:prompts:{scenario}:{concurrency}:{rate}")


def arrival_rng(seed: int, scenario: str, rate: float) -> random.Random:
    """Open-loop gaps: request k (from 0) is sent at the sum of the first k ``expovariate(rate)`` draws,
    so the first request goes at time 0."""
    return random.Random(f"{seed}:arrivals:{scenario}:{rate}")


def arrival_gaps(seed: int, scenario: str, rate: float) -> Iterator[float]:
    """The open-loop gaps themselves, endlessly."""
    rng = arrival_rng(seed, scenario, rate)
    while True:
        yield rng.expovariate(rate)
