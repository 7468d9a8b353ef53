"""``fast_start``: how an experiment's engine starts faster than a production start (issue 17).

Each option has a caveat, printed when it applies (``search.fast_start.plan``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FastStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dummy_weights: Literal["auto", "on", "off"] = Field(
        default="auto", description="random weights (--load-format dummy): auto = on only when the objective "
        "cannot depend on the weights' values (fixed output lengths, no speculative decoding, not MoE); the "
        "final best is confirmed with the real weights")
    compile_cache: bool = Field(default=True, description="one compile / CUDA-graph / JIT cache directory per "
                                "model, shared by the experiments (VLLM_CACHE_ROOT, TORCHINDUCTOR_CACHE_DIR...)")
    cache_dir: str | None = Field(default=None, description="where those caches live (default "
                                  "~/.cache/autotuner/engine-cache); mounted into containers")
