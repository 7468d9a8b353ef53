"""A runner that computes metrics from the configuration (no engine), for testing the search loop."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from autotuner.bench.result import LevelResult
from autotuner.search.runners import Outcome


def level(scenario: str, concurrency: int, **metrics: float) -> LevelResult:
    base = {"success_rate": 1.0, "duration": 1.0}
    return LevelResult(scenario=scenario, concurrency=concurrency, metrics={**base, **metrics})


class FakeRunner:
    """``model(params, concurrency) -> metrics`` or raises ``Outcome`` for a failure."""

    def __init__(self, model: Callable[[dict, int], dict | Outcome], concurrency=(8,), scenario="D(128,128)",
                 interrupt_after: int | None = None):
        self.model, self.concurrency, self.scenario = model, concurrency, scenario
        self.calls: list[dict[str, Any]] = []
        self.gpus_seen: list[list[int]] = []
        self.interrupt_after = interrupt_after
        self.lock = threading.Lock()

    def reap(self, name: str) -> list[str]:
        return []  # no engine outlives an experiment

    def log_path(self, name: str) -> str | None:
        return None

    def run(self, params, gpus, name, on_phase, on_level, cancel) -> Outcome:
        with self.lock:
            self.calls.append(dict(params))
            self.gpus_seen.append(list(gpus))
            if self.interrupt_after is not None and len(self.calls) > self.interrupt_after:
                raise KeyboardInterrupt
        on_phase("benchmarking")
        levels = []
        for c in self.concurrency:
            result = self.model(params, c)
            if isinstance(result, Outcome):
                return result
            lv = level(self.scenario, c, **result)
            levels.append(lv.to_dict())
            if not on_level(lv):
                return Outcome(True, levels, stopped_early=True)
        return Outcome(True, levels)


def tmp_db() -> Path:
    """A fresh SQLite file (Optuna's storage opens its own connections, so no in-memory DB)."""
    return Path(tempfile.mkdtemp(prefix="autotuner-test-")) / "db.sqlite"
