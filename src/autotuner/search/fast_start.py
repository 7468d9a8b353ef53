"""Fast engine starts for experiments, and filling the node: what applies to a task, and why.

- Random weights (``--load-format dummy``) skip reading the checkpoint. Timing does not depend on
  weight values when every output length is fixed (our client sends ``ignore_eos``) and nothing
  reads the values back: not speculative decoding (the draft's acceptance rate), not MoE models
  (the router's expert balance). ``auto`` turns it on only then; the final best is measured again
  with the real weights (``confirm.confirm_real_weights``).
- One compile cache directory per model and engine, passed to every experiment's engine through its
  environment (and mounted into containers): the engines' own cache variables, so a configuration
  that compiles the same graph as an earlier one reads it back (``sim/startup.py`` for the key).
- ``search.parallel: auto``: as many experiments at once as the GPUs fit (by the smallest
  experiment of the space), so the rest of the node does not idle while one runs.
"""

from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..engines.launch import LaunchSpec
from ..spec.task import Task

DUMMY_WEIGHT_ARGS = {"sglang": ["--load-format", "dummy"], "vllm": ["--load-format", "dummy"]}
NO_DUMMY_WEIGHTS = {
    "trtllm": "trtllm-serve's published flags (catalog 1.2.1) have no load format for random weights",
    "llamacpp": "llama-server reads a GGUF file and has no random-weight mode",
}
CAVEAT = ("random weights: the engine answers with nonsense tokens; timings stand because every output "
          "length is fixed, and the best is measured again with the real weights")
# The engines' cache variables: vLLM keeps torch.compile artifacts under VLLM_CACHE_ROOT
# (docs.vllm.ai/en/latest/design/torch_compile/, "Compilation Cache"); SGLang's torch.compile cache
# is TORCHINDUCTOR_CACHE_DIR (docs.sglang.io/references/torch_compile_cache.html); Triton kernels
# are cached under TRITON_CACHE_DIR, FlashInfer's JIT modules under FLASHINFER_WORKSPACE_BASE.
CACHE_VARIABLES = {
    "vllm": ("VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"),
    "sglang": ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "FLASHINFER_WORKSPACE_BASE"),
    "trtllm": ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"),
}
DEFAULT_CACHE_ROOT = Path("~/.cache/autotuner/engine-cache")
# Set (by the confirmation) around a run that must load the real weights.
REAL_WEIGHTS: contextvars.ContextVar[bool] = contextvars.ContextVar("real_weights", default=False)


class FastStartError(ValueError):
    """A fast-start option asked for where it cannot apply (raised before anything deploys)."""


@dataclass
class FastStartPlan:
    dummy_weights: bool
    reason: str
    cache_dir: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    caveats: list[str] = field(default_factory=list)


def weight_dependence(task: Task) -> str | None:
    """Why the objective could depend on the weights' values (None when it cannot)."""
    if task.benchmark.runner != "client":
        return "the load comes from an OME BenchmarkJob, whose output lengths we do not pin"
    flags = set(task.fixed_args) | set(task.search.space)
    if any(f.startswith("speculative") for f in flags):
        return "speculative decoding: the draft's acceptance rate depends on the weights"
    from ..hardware.models import load_model
    try:
        model = load_model(task.model.id)
    except ValueError:
        return f"model {task.model.id!r} has no known shape, so it may be a mixture of experts"
    if model.is_moe:
        return "a mixture-of-experts model: the router's expert balance depends on the weights"
    return None


def fixed_simulation(simulate: dict[str, Any] | None) -> bool:
    """A run on the simulated engine with its fixed start-up: no weights to skip, no start-up to share."""
    return simulate is not None and simulate.get("startup", "fixed") != "modelled"


def dummy_weights(task: Task, simulate: dict[str, Any] | None = None) -> tuple[bool, str]:
    """Whether experiments run on random weights, and why; FastStartError for ``on`` where impossible.
    ``simulate``: the run's simulated-engine settings (None on real engines)."""
    policy = task.fast_start.dummy_weights
    if policy == "off":
        return False, "fast_start.dummy_weights is off"
    if policy == "auto" and fixed_simulation(simulate):
        return False, "the simulated engine's fixed start-up loads no weights"
    if task.engine not in DUMMY_WEIGHT_ARGS:
        why = NO_DUMMY_WEIGHTS.get(task.engine, f"engine {task.engine} has no random-weight load format")
        if policy == "on":
            raise FastStartError(f"fast_start.dummy_weights: on is refused for engine {task.engine}: {why}; "
                                 "allowed: auto, off")
        return False, why
    blocker = weight_dependence(task)
    if policy == "on":
        return True, "fast_start.dummy_weights is on" + (f" although {blocker}" if blocker else "")
    if blocker is not None:
        return False, blocker
    return True, "every output length is fixed and nothing reads the weights' values"


def cache_dir(task: Task) -> Path:
    root = Path(task.fast_start.cache_dir).expanduser() if task.fast_start.cache_dir else DEFAULT_CACHE_ROOT.expanduser()
    return root / task.engine / re.sub(r"[^A-Za-z0-9._-]+", "--", task.model.id)


def cache_env(task: Task) -> dict[str, str]:
    """The engine's cache variables, each a directory under the model's cache dir."""
    if not task.fast_start.compile_cache:
        return {}
    base = cache_dir(task)
    return {var: str(base / var.lower()) for var in CACHE_VARIABLES.get(task.engine, ())}


def plan(task: Task, simulate: dict[str, Any] | None = None) -> FastStartPlan:
    on, reason = dummy_weights(task, simulate)
    env = {} if fixed_simulation(simulate) else cache_env(task)  # a fixed simulated start-up compiles nothing
    caveats = [CAVEAT] if on else []
    if env:
        caveats.append("shared compile cache: a stale entry after an engine upgrade is the engine's to "
                       f"detect; delete {cache_dir(task)} to start cold")
    return FastStartPlan(on, reason, str(cache_dir(task)) if env else None, env, caveats)


def apply(spec: LaunchSpec, task: Task, simulate: dict[str, Any] | None = None,
          real_weights: bool | None = None) -> LaunchSpec:
    """``spec`` with the task's fast-start arguments and cache environment (real weights when asked)."""
    p = plan(task, simulate)
    real_weights = REAL_WEIGHTS.get() if real_weights is None else real_weights
    argv = list(spec.argv)
    if p.dummy_weights and not real_weights and "--load-format" not in argv:
        argv += DUMMY_WEIGHT_ARGS[task.engine]
    if p.env:
        for path in p.env.values():
            Path(path).mkdir(parents=True, exist_ok=True)
    return replace(spec, argv=argv, env={**p.env, **spec.env}, cache_dirs=sorted(set(p.env.values())))


def fast_start_lines(event: dict[str, Any]) -> list[str]:
    """The ``fast_start`` event, as the run prints it: what applies, why, and each caveat (nothing on
    the simulated engine with its fixed start-up, where none applies)."""
    if event.get("fixed_simulation"):
        return []
    weights = "random weights (--load-format dummy)" if event.get("dummy_weights") else "real weights"
    lines = [f"experiments start with {weights}: {event.get('reason')}"]
    if event.get("cache_dir"):
        lines.append(f"compile caches shared per model under {event['cache_dir']}")
    if (event.get("parallel") or 1) > 1:
        lines.append(f"{event['parallel']} experiments at once (search.parallel auto: as many as the GPUs fit)")
    return lines + [f"caveat: {c}" for c in event.get("caveats", [])]


def parallel_slots(task: Task, gpus: int, simulate: dict[str, Any] | None = None) -> int:
    """``search.parallel``; for ``auto``, as many experiments as ``gpus`` fit by the smallest one.
    A task on the simulated engine with its fixed start-up runs one at a time (start-ups cost nothing
    there, and its results keep the sequential order)."""
    if isinstance(task.search.parallel, int):
        return task.search.parallel
    if fixed_simulation(simulate):
        return 1
    from ..engines import get_adapter
    from .space import all_configurations, grid_size
    adapter = get_adapter(task.engine)
    if grid_size(task.search.space) <= 10_000:
        smallest = min(adapter.gpu_count({**task.fixed_args, **c}) for c in all_configurations(task.search.space))
    else:
        smallest = adapter.gpu_count(task.fixed_args)
    return max(1, min(gpus // max(smallest, 1), task.search.max_experiments))


__all__ = ["FastStartError", "FastStartPlan", "apply", "cache_env", "dummy_weights", "parallel_slots", "plan",
           "weight_dependence"]
