"""Engine adapters by name."""

from __future__ import annotations

from .base import EngineAdapter
from .llamacpp import LlamaCpp
from .sglang import SGLang
from .vllm import VLLM

_ADAPTERS: dict[str, type[EngineAdapter]] = {"sglang": SGLang, "vllm": VLLM, "llamacpp": LlamaCpp}


def get_adapter(name: str) -> EngineAdapter:
    try:
        return _ADAPTERS[name]()
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; allowed: {', '.join(sorted(_ADAPTERS))}") from None


def register(name: str, adapter: type[EngineAdapter]) -> None:
    _ADAPTERS[name] = adapter


from .trtllm import TensorRTLLM  # noqa: E402  (registered like a plug-in engine)

register("trtllm", TensorRTLLM)

__all__ = ["EngineAdapter", "get_adapter", "register"]
