"""What a benchmark would measure, without a server: ``predict(engine, gpu, model, flags, scenario, ...)``.

One call builds the simulated engine from the engine's own flags (the same parser, memory plan and
cost model as ``python -m autotuner.sim``), replays one load level in virtual time and returns a
``Prediction``: the metrics the benchmark runner reports (seconds, tokens/s), the memory plan
(weights, KV capacity, how many requests fit before they queue) and which cost model answered.
This is the library call behind ``autotuner predict``, the search prior and ``autotuner plan``.
A configuration the engine would refuse raises ``SimStartupError`` / ``SimConfigError`` with the
engine's own message; bad arguments of the call itself raise ``ValueError`` naming the argument.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..hardware.gpus import get_gpu
from ..spec.scenarios import parse_scenario
from ..spec.workload import Workload
from .config import PERSONALITIES
from .engine import SimEngine
from .virtual import simulate_benchmark

DEFAULT_REQUESTS_PER_USER = 10  # closed loop: a first wave, then the users out of step (``desync``)
MIN_REQUESTS = 16
MAX_REQUESTS = 2000


@dataclass(frozen=True)
class MemorySummary:
    """The engine's memory plan, per GPU, and what it means for concurrency."""

    weights_gb: float  # weight bytes per GPU, in GB (10^9)
    kv_cache_gb: float  # KV pool per GPU, in GB
    kv_capacity_tokens: int  # tokens the KV cache holds, all replicas together
    max_concurrency: int  # requests of the scenario's mean length that fit at once (KV and request slots)
    max_running_requests: int  # the engine's request-slot limit, all replicas together


@dataclass(frozen=True)
class Prediction:
    engine: str
    gpu: str
    model: str
    scenario: str
    concurrency: int | None
    rate: float | None
    num_gpus: int
    metrics: dict[str, float]  # ttft_*/tpot_*/itl_*/e2e_* in seconds, *_throughput in tokens/s
    memory: MemorySummary
    cost_model: str  # which step-time model answered ("roofline", "aiconfigurator tables ...")
    cost_model_note: str
    argv: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Flags = Mapping[str, Any] | Sequence[str] | None


def flags_to_argv(flags: Flags) -> list[str]:
    """``{"tp-size": 2, "enable-mixed-chunk": True}`` -> ``["--tp-size", "2", "--enable-mixed-chunk"]``.

    Keys may carry their dashes or not, and underscores stand for dashes. ``True`` is a bare switch,
    ``False``/``None`` leave the flag out, a list gives several values. A sequence of strings is
    taken as the engine's command line already.
    """
    if flags is not None and not isinstance(flags, Mapping):
        if isinstance(flags, str) or not all(isinstance(a, str) for a in flags):
            raise ValueError("flags: give a mapping of flag -> value or a list of arguments, not a shell string")
        return list(flags)
    argv: list[str] = []
    for key, value in (flags or {}).items():
        if not isinstance(key, str) or not key.strip("-"):
            raise ValueError(f"flags: {key!r} is not a flag name")
        name = "--" + key.lstrip("-").replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            argv.append(name)
        elif isinstance(value, (list, tuple)):
            argv += [name, *(str(v) for v in value)]
        else:
            argv += [name, str(value)]
    return argv


def engine_argv(engine: str, gpu: str, model: str, flags: Flags = None) -> list[str]:
    """The simulated engine's command line for this engine, GPU, model and engine flags."""
    if engine not in PERSONALITIES:
        raise ValueError(f"engine {engine!r} is not one of: {', '.join(PERSONALITIES)}")
    gpu_name = get_gpu(gpu).name
    if engine == "trtllm":  # MODEL is trtllm-serve's positional argument
        return ["--personality", engine, "--gpu", gpu_name, model, *flags_to_argv(flags)]
    model_flag = "--model-path" if engine == "sglang" else "--model"
    return ["--personality", engine, "--gpu", gpu_name, model_flag, model, *flags_to_argv(flags)]


def _default_requests(concurrency: int | None, rate: float | None) -> int:
    if concurrency is not None:
        return max(MIN_REQUESTS, min(MAX_REQUESTS, DEFAULT_REQUESTS_PER_USER * concurrency))
    return max(MIN_REQUESTS, min(MAX_REQUESTS, int(rate * 30)))


def _cost_model_name(engine: SimEngine) -> str:
    describe = getattr(engine.cost, "describe", None)
    return describe() if callable(describe) else type(engine.cost).__name__.replace("CostModel", "").lower()


def memory_summary(engine: SimEngine, mean_request_tokens: float) -> MemorySummary:
    cfg, plan = engine.config, engine.memory
    replicas = len(engine.replicas)
    slots = (cfg.max_running or 0) * replicas
    fit = int(plan.kv_tokens // max(mean_request_tokens, 1.0)) * replicas
    return MemorySummary(weights_gb=round(plan.weight_bytes / 1e9, 3), kv_cache_gb=round(plan.kv_bytes / 1e9, 3),
                         kv_capacity_tokens=plan.kv_tokens * replicas, max_concurrency=min(fit, slots) if slots else fit,
                         max_running_requests=slots)


def predict(engine: str, gpu: str, model: str, flags: Flags = None,
            scenario: str = "D(1024,256)", concurrency: int | None = None, rate: float | None = None,
            num_requests: int | None = None, seed: int = 0) -> Prediction:
    """The benchmark of one load level (``concurrency`` users, or Poisson ``rate`` req/s) on the twin.

    ``engine``: "sglang" or "vllm"; ``gpu``: a known GPU (``h100``, ``b200_sxm``, ...); ``model``: a
    Hugging Face id the twin knows or a local folder with a ``config.json``; ``flags``: the engine's own
    flags; ``scenario``: e.g. ``"D(1024,256)"``. Without a load level, 8 concurrent users.
    """
    if concurrency is not None and rate is not None:
        raise ValueError("give concurrency or rate, not both")
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be > 0 requests/s, got {rate}")
    if concurrency is None and rate is None:
        concurrency = 8
    if num_requests is not None and num_requests < 1:
        raise ValueError(f"num_requests must be >= 1, got {num_requests}")
    shape = parse_scenario(scenario)
    argv = engine_argv(engine, gpu, model, flags)
    sim = SimEngine.from_argv(argv)
    workload = Workload(scenarios=[scenario], concurrency=[concurrency] if concurrency else [],
                        rates=[rate] if rate else [],
                        num_requests=num_requests or _default_requests(concurrency, rate))
    result = simulate_benchmark(argv, workload, seed=seed, engine=sim, desync=True)  # as real runs see it
    level = result.levels[0]
    mean_tokens = _mean_request_tokens(shape)
    return Prediction(engine=engine, gpu=sim.gpu.name, model=model, scenario=scenario, concurrency=concurrency,
                      rate=rate, num_gpus=sim.config.num_gpus, metrics=dict(level.metrics),
                      memory=memory_summary(sim, mean_tokens), cost_model=_cost_model_name(sim),
                      cost_model_note=sim.cost_note or "", argv=argv)


def _mean_request_tokens(shape) -> float:
    """Prompt + output tokens of an average request (from samples: works for every scenario kind)."""
    rng = random.Random(0)
    samples = [shape.sample(rng) for _ in range(64)]
    return sum(s.input_tokens + s.output_tokens for s in samples) / len(samples)


__all__ = ["MemorySummary", "Prediction", "engine_argv", "flags_to_argv", "memory_summary", "predict"]
