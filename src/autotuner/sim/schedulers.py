"""The personality's scheduler: ``make_scheduler(config, cost_model, capacity_tokens, rng)`` gives
``sched_sglang.SGLangScheduler``, ``sched_vllm.VLLMScheduler`` or ``sched_trtllm.TRTLLMScheduler`` (both built on ``scheduler``)."""

from __future__ import annotations

import random

from .config import EngineConfig
from .costmodel import CostModel
from .sched_sglang import SGLangScheduler
from .sched_trtllm import TRTLLMScheduler
from .sched_vllm import VLLMScheduler
from .scheduler import Scheduler


def make_scheduler(config: EngineConfig, cost_model: CostModel, capacity_tokens: int,
                   rng: random.Random | None = None) -> Scheduler:
    if config.personality == "trtllm":
        return TRTLLMScheduler(config, cost_model, capacity_tokens, rng)
    if config.personality == "sglang":
        return SGLangScheduler(config, cost_model, capacity_tokens, rng)
    return VLLMScheduler(config, cost_model, capacity_tokens, rng)
