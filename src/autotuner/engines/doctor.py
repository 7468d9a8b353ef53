"""Which engines can run on this machine, and why not."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from . import ENGINES, get_adapter
from .models import installed_models


@dataclass(frozen=True)
class EngineStatus:
    engine: str
    runnable: bool
    detail: str


def gpu_present() -> bool:
    return shutil.which("nvidia-smi") is not None or os.path.exists("/dev/nvidia0")


def check_engines() -> list[EngineStatus]:
    """One status per real engine, then the simulated engine (always available)."""
    statuses = [_check(name) for name in ENGINES]
    statuses.append(EngineStatus("simulated", True,
                                 "built in: `--simulate GPU` runs SGLang/vLLM personalities without a GPU"))
    return statuses


def _check(name: str) -> EngineStatus:
    adapter = get_adapter(name)
    ok, detail = adapter.runnable()
    if ok and adapter.needs_nvidia_gpu and not gpu_present():
        return EngineStatus(name, False, f"{detail}, but no NVIDIA GPU is visible (use --simulate)")
    if ok and name == "llamacpp":
        models = installed_models()
        listing = ", ".join(f"{m.package} ({m.path.name})" for m in models)
        detail += f"; GGUF model packages: {listing}" if models else "; no GGUF model package installed (give a .gguf path)"
    return EngineStatus(name, ok, detail)


def gpu_engines() -> tuple[str, ...]:
    """The engines that need an NVIDIA GPU to run for real."""
    return tuple(name for name, adapter in ENGINES.items() if adapter.needs_nvidia_gpu)


def render(statuses: list[EngineStatus]) -> str:
    """Plain-text table: one line per engine."""
    width = max(len(s.engine) for s in statuses)
    return "\n".join(f"{s.engine:<{width}}  {'yes' if s.runnable else 'no ':<3}  {s.detail}" for s in statuses)
