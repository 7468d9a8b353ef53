"""Engine adapters by name: ``ENGINES`` is the one list of engines (``register`` adds one)."""

from __future__ import annotations

from ..registry import Registry
from .base import EngineAdapter
from .llamacpp import LlamaCpp
from .sglang import SGLang
from .trtllm import TensorRTLLM
from .vllm import VLLM

ENGINES: Registry[type[EngineAdapter]] = Registry("engine", "engine")
for _adapter in (SGLang, VLLM, LlamaCpp, TensorRTLLM):
    ENGINES.register(_adapter.name, _adapter)


def get_adapter(name: str) -> EngineAdapter:
    """A fresh adapter of the engine ``name``; ValueError naming the registered engines otherwise."""
    return ENGINES.create(name)


def register(name: str, adapter: type[EngineAdapter]) -> None:
    ENGINES.register(name, adapter)


__all__ = ["ENGINES", "EngineAdapter", "get_adapter", "register"]
