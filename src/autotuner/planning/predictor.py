"""The one place planning asks the simulated engine for a prediction (virtual time, no server).

``predict_level`` runs one load level of one configuration and returns the benchmark's metrics.
It is the seam to the twin: a later ``autotuner.sim.predict`` replaces its body, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..sim.errors import SimConfigError, SimStartupError
from ..sim.virtual import simulate_benchmark
from ..spec.workload import Workload

MODEL_FLAG = {"sglang": "--model-path", "vllm": "--model"}


@dataclass
class LevelPrediction:
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # why the engine would not start (out of memory, bad layout...)

    @property
    def ok(self) -> bool:
        return self.error is None


def flag_argv(flags: dict[str, Any]) -> list[str]:
    """Engine flags as an argument list: ``True`` is a bare switch, ``False``/``None`` is left out."""
    argv: list[str] = []
    for name, value in flags.items():
        if value is None or value is False:
            continue
        argv.append(f"--{name.lstrip('-')}")
        if value is not True:
            argv.append(str(value))
    return argv


def engine_argv(engine: str, gpu: str, model: str, flags: dict[str, Any],
                sim_options: dict[str, Any] | None = None) -> list[str]:
    """The simulated engine's command line; ``sim_options`` are the simulator's own flags."""
    return ["--personality", engine, "--gpu", gpu, MODEL_FLAG[engine], model,
            *flag_argv(sim_options or {}), *flag_argv(flags)]


def predict_level(engine: str, gpu: str, model: str, flags: dict[str, Any], scenario: str,
                  concurrency: int | None = None, rate: float | None = None, num_requests: int = 100,
                  seed: int = 0, sim_options: dict[str, Any] | None = None) -> LevelPrediction:
    """What the benchmark would report for one level: ``concurrency`` users or ``rate`` requests/s."""
    workload = Workload(scenarios=[scenario], concurrency=[concurrency] if concurrency else [],
                        rates=[rate] if rate else [], num_requests=num_requests, warmup_requests=0)
    try:
        result = simulate_benchmark(engine_argv(engine, gpu, model, flags, sim_options), workload, seed=seed)
    except (SimStartupError, SimConfigError) as e:
        return LevelPrediction(error=str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__)
    return LevelPrediction(metrics=dict(result.levels[0].metrics))
