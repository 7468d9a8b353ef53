"""The one place planning asks the simulated engine for a prediction (virtual time, no server).

``predict_level`` runs one load level of one configuration and returns the benchmark's metrics, or
the engine's reason for not starting. It calls the twin's library API (``autotuner.sim.predict``)
where the package has it, else replays the level with ``sim.virtual.simulate_benchmark`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..sim.errors import SimStartupError
from ..sim.virtual import simulate_benchmark
from ..spec.workload import Workload

try:  # the twin's one-call prediction, when this package has it
    from ..sim.predict import predict as twin_predict
except ImportError:  # older twin: the same replay, done here
    twin_predict = None

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


def _replay(engine: str, gpu: str, model: str, flags: dict[str, Any], scenario: str, concurrency: int | None,
            rate: float | None, num_requests: int, seed: int) -> dict[str, float]:
    workload = Workload(scenarios=[scenario], concurrency=[concurrency] if concurrency else [],
                        rates=[rate] if rate else [], num_requests=num_requests, warmup_requests=0)
    argv = ["--personality", engine, "--gpu", gpu, MODEL_FLAG[engine], model, *flag_argv(flags)]
    return dict(simulate_benchmark(argv, workload, seed=seed, desync=True).levels[0].metrics)


def predict_level(engine: str, gpu: str, model: str, flags: dict[str, Any], scenario: str,
                  concurrency: int | None = None, rate: float | None = None, num_requests: int = 40,
                  seed: int = 0) -> LevelPrediction:
    """What the benchmark would report for one level: ``concurrency`` users or ``rate`` requests/s."""
    try:
        if twin_predict is not None:
            metrics = dict(twin_predict(engine, gpu, model, flags, scenario, concurrency=concurrency, rate=rate,
                                        num_requests=num_requests, seed=seed).metrics)
        else:
            metrics = _replay(engine, gpu, model, flags, scenario, concurrency, rate, num_requests, seed)
    except SimStartupError as e:  # SimConfigError too: the engine's own message, its last line
        text = str(e).strip()
        return LevelPrediction(error=text.splitlines()[-1] if text else type(e).__name__)
    return LevelPrediction(metrics=metrics)
