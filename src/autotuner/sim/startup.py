"""How long an engine takes to become ready: process start, weights load, compile, CUDA-graph capture.

    total = process + load(bytes, load format) + compile(cache hit or miss) + graph capture

Figures (per the sources, rounded; the simulated engine and ``benchmarks/gpu_time.py`` pay them):
- Weights load at ``DISK_GBPS`` from local storage; vLLM/SGLang ``--load-format dummy`` only
  initialises the tensors on the GPU (``DUMMY_GBPS``, plus a second of set-up). Llama-70B-FP8 at
  TP 8 loads in ~10 s from a *hot* page cache (vllm-project/vllm#19824); from disk it is bytes / disk
  bandwidth.
- Compile: vLLM's torch.compile takes 19.4 s cold for Llama-3-8B (vllm-project/vllm#11005) and ~85 s
  (dynamo 15 + inductor 70) for Llama-70B (#19824): ``COMPILE_S_PER_LAYER`` per decoder layer. A warm
  start reads the artifacts from the cache instead (dynamo ~7.5 s + load ~4 s, #20264 / PR #16848):
  ``CACHE_HIT_SHARE`` of the cold time. SGLang's equivalent is its kernel JIT / torch.compile cache.
- CUDA-graph capture is redone by every process (not cached): 10-15 s for 8B (#11005), ~60 s for
  70B at TP 8 (#19824): ``GRAPH_S_PER_LAYER``.
With these, Llama-3.1-70B (bf16, cold) starts in ~185 s and 8B in ~57 s, in line with issue 17's
model-size table (70B ≈ 180 s).

The compile cache is keyed like the engines' own (vLLM hashes the configs that shape the graph):
engine, model, parallel layout, dtypes, compile flags and, for vLLM, the batched-token bound that sets
its compile range. Options that only size memory or scheduling (``--mem-fraction-static``,
``--max-running-requests``) share one cache entry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

PROCESS_S = 6.0
DISK_GBPS = 2.0
DUMMY_GBPS = 100.0
COMPILE_S_PER_LAYER = 0.8
GRAPH_S_PER_LAYER = 0.55
CACHE_HIT_SHARE = 0.15
# Flags that change the compiled graph (the rest size memory or the scheduler).
COMPILE_FLAGS = ("tp-size", "tp", "tensor-parallel-size", "pp-size", "pipeline-parallel-size", "dp-size",
                 "data-parallel-size", "ep-size", "enable-expert-parallel", "dtype", "quantization",
                 "kv-cache-dtype", "enable-torch-compile", "torch-compile-max-bs", "compilation-config",
                 "enforce-eager", "disable-cuda-graph", "cuda-graph-max-bs", "attention-backend",
                 "enable-dp-attention")
VLLM_COMPILE_FLAGS = ("max-num-batched-tokens",)  # vLLM compiles for the range up to this bound


@dataclass(frozen=True)
class Startup:
    process: float
    load: float
    compile: float
    graphs: float

    @property
    def total(self) -> float:
        return self.process + self.load + self.compile + self.graphs

    def as_dict(self) -> dict[str, float]:
        return {"process": self.process, "load": self.load, "compile": self.compile, "graphs": self.graphs,
                "total": self.total}


def cache_key(engine: str, model: str, config: dict[str, Any]) -> str:
    """Experiments with the same key reuse one compile cache entry (and should run one after another)."""
    flags = COMPILE_FLAGS + (VLLM_COMPILE_FLAGS if engine == "vllm" else ())
    relevant = {k: config[k] for k in sorted(config) if k.lstrip("-") in flags}
    text = json.dumps([engine, model, relevant], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def startup_time(weight_bytes: float, gpus: int, layers: int, dummy_weights: bool, cache_hit: bool,
                 eager: bool = False) -> Startup:
    """The start-up of one engine holding ``weight_bytes`` over ``gpus`` GPUs (all ranks load at once
    from one disk, so the load is bound by the disk, not by the GPU count)."""
    if dummy_weights:
        load = 1.0 + weight_bytes / max(gpus, 1) / (DUMMY_GBPS * 1e9)
    else:
        load = weight_bytes / (DISK_GBPS * 1e9)
    compile_s = 0.0 if eager else COMPILE_S_PER_LAYER * layers * (CACHE_HIT_SHARE if cache_hit else 1.0)
    graphs = 0.0 if eager else GRAPH_S_PER_LAYER * layers
    return Startup(PROCESS_S, load, compile_s, graphs)


def model_startup(model_id: str, gpus: int, dummy_weights: bool, cache_hit: bool,
                  bytes_per_param: float = 2.0, eager: bool = False) -> Startup:
    """``startup_time`` for a known model's shape (``hardware.models``)."""
    from ..hardware.models import load_model
    spec = load_model(model_id)
    return startup_time(spec.params * bytes_per_param, gpus, spec.layers, dummy_weights, cache_hit, eager)


CACHE_DIR_VARIABLES = ("VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR")  # where the simulated engine notes its compiles


def simulated_startup(engine, environ) -> tuple[float, str]:  # noqa: ANN001 (SimEngine, os.environ)
    """The simulated engine's modelled start-up and its log line. Its "compile cache" is a marker file
    per cache key in the engine's cache directory (from its environment, as the real engines read it):
    present means a hit; it is written now, so the next engine with the same key hits."""
    from pathlib import Path
    cfg = engine.config
    argv = list(cfg.argv)
    dummy = "--load-format" in argv and argv[argv.index("--load-format") + 1:][:1] == ["dummy"]
    key = cache_key(cfg.personality, cfg.model, _flags(argv))
    directory = next((environ[v] for v in CACHE_DIR_VARIABLES if environ.get(v)), None)
    marker = Path(directory) / f"autotuner-sim-{key}" if directory else None
    hit = marker is not None and marker.exists()
    weight_bytes = engine.model.params * (1.0 if cfg.quantization in ("fp8", "modelopt_fp8") else 2.0)
    st = startup_time(weight_bytes, cfg.tp * cfg.pp * cfg.dp, engine.model.layers, dummy, hit)
    if marker is not None:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(st.as_dict()))
    line = (f"start-up {st.total:.1f} s: load {st.load:.1f} s ({'dummy' if dummy else 'real'} weights), "
            f"compile {st.compile:.1f} s (cache {'hit' if hit else 'miss'}), CUDA graphs {st.graphs:.1f} s")
    return st.total, line


def _flags(argv: list[str]) -> dict[str, str]:
    """``--flag value`` pairs (bare flags as "true") of an engine command line."""
    out: dict[str, str] = {}
    for i, arg in enumerate(argv):
        if arg.startswith("--"):
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            out[arg[2:]] = nxt if nxt is not None and not nxt.startswith("--") else "true"
    return out
