"""Engine adapters: a configuration (engine flag -> value) becomes the engine's launch argument list."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from abc import ABC, abstractmethod
from typing import Any

from .launch import LaunchSpec

# One vocabulary for parallelism and quantization across engines; each adapter maps it to its flags.
CANONICAL = ("tp", "pp", "dp", "ep", "quantization", "kv_cache_dtype")


class EngineAdapter(ABC):
    name: str
    health_path: str = "/health"
    default_port: int = 8000
    needs_nvidia_gpu: bool = True  # the real engine runs on NVIDIA GPUs only (llama.cpp also runs on CPUs)
    # canonical name -> this engine's flag; and every flag spelling that sets a parallel degree
    aliases: dict[str, str] = {}
    parallel_flags: dict[str, tuple[str, ...]] = {}

    @abstractmethod
    def executable(self) -> list[str]:
        """The real engine's command prefix."""

    @abstractmethod
    def model_args(self, model_id: str, served_name: str) -> list[str]:
        """Arguments naming the model (and its served name)."""

    def runnable(self) -> tuple[bool, str]:
        """Whether the real engine can run here, and why not."""
        return True, ""

    def canonical(self, config: dict[str, Any]) -> dict[str, Any]:
        """Engine flags for a configuration, translating canonical names (tp, dp...)."""
        out: dict[str, Any] = {}
        for key, value in config.items():
            flag = self.aliases.get(key.lstrip("-"), key.lstrip("-"))
            out[flag] = value
        return out

    def flag_args(self, config: dict[str, Any]) -> list[str]:
        """``{flag: value}`` -> argv. True -> bare flag; None dropped; False dropped, or the negation
        (``--no-x``) when the switch is on by default; lists -> values after the flag."""
        argv: list[str] = []
        for flag, value in self.canonical(config).items():
            if value is False:
                negation = self.negation(flag)
                if negation:
                    argv.append(f"--{negation}")
                continue
            if value is None:
                continue
            argv += flag_value_args(flag, value)
        return argv

    def effective_defaults(self, flags: list[str], fixed: dict[str, Any], version: str | None) -> dict[str, Any] | None:
        """The values ``flags`` take when the engine runs with only ``fixed`` set (its baseline):
        the fixed value, else the catalog's default as the engine resolves it; None when any is unknown."""
        from .catalog import CatalogError, load_catalog

        try:
            catalog = load_catalog(self.name, version)
        except CatalogError:
            return None
        fixed = self.canonical(fixed)
        out: dict[str, Any] = {}
        for key in flags:
            flag = self.canonical({key: None}).popitem()[0]
            found = catalog.lookup(flag)
            if flag in fixed:
                value = fixed[flag]
            elif found is None or found[1].get("negation") == flag:
                return None
            else:
                value = self.resolve_default(found[0], found[1].get("default"), fixed)
            if value is None:
                return None
            out[key] = value
        return out

    def resolve_default(self, flag: str, default: Any, fixed: dict[str, Any]) -> Any:
        """A catalog default as the engine applies it (engines turn "auto" values into real ones)."""
        return default

    def negation(self, flag: str) -> str | None:
        """The flag that turns an on-by-default switch off (vLLM's ``--no-enable-prefix-caching``)."""
        from .catalog import CatalogError, load_catalog
        try:
            found = load_catalog(self.name).lookup(flag)
        except CatalogError:
            return None
        if found is None:
            return None
        entry = found[1]
        return entry.get("negation") if entry.get("default") is not False else None

    def parallel_degree(self, config: dict[str, Any], axis: str) -> int:
        flags = self.canonical(config)
        for flag in self.parallel_flags.get(axis, ()):
            if flag in flags and flags[flag] is not None:
                return int(flags[flag])
        return 1

    def gpu_count(self, config: dict[str, Any]) -> int:
        """GPUs one experiment needs: TP x PP x DP."""
        return self.parallel_degree(config, "tp") * self.parallel_degree(config, "pp") * self.parallel_degree(config, "dp")

    def launch_spec(self, model_id: str, served_name: str, config: dict[str, Any],
                    simulate: dict[str, Any] | None = None) -> LaunchSpec:
        """The command that starts this engine with ``config``; the simulated engine when ``simulate``."""
        args = self.model_args(model_id, served_name) + self.flag_args(config)
        if simulate is not None:
            prefix = [sys.executable, "-m", "autotuner.sim", "--personality", self.name,
                      "--gpu", str(simulate.get("gpu", "h100")), "--seed", str(simulate.get("seed", 0)),
                      "--startup-seconds", str(simulate.get("startup_seconds", 0.3))]
            if simulate.get("startup") == "modelled":
                prefix.append("--startup-model")
            if simulate.get("noise"):
                prefix += ["--noise", str(simulate["noise"])]
            if simulate.get("cost_model"):
                prefix += ["--cost-model", str(simulate["cost_model"])]
            for key in ("overhead_step_ms", "overhead_request_ms"):  # a twin with other framework costs
                if simulate.get(key):
                    prefix += [f"--{key.replace('_', '-')}", str(simulate[key])]
            argv = prefix + args
        else:
            argv = self.executable() + args
        return LaunchSpec(engine=self.name, argv=argv, model_name=served_name,
                          health_path=self.health_path, num_gpus=self.gpu_count(config),
                          container_port=self.default_port)


def flag_value_args(flag: str, value: Any) -> list[str]:
    """One flag set (not False/None): True -> bare flag; a list -> its values after the flag."""
    if value is True:
        return [f"--{flag}"]
    if isinstance(value, list | tuple):
        return [f"--{flag}", *(_text(v) for v in value)]
    return [f"--{flag}", _text(value)]


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)  # keep "0.0"/"1.0" as floats: engines parse them as floats
    return str(value)


def python_module_available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def command_available(cmd: str) -> bool:
    return shutil.which(cmd) is not None


def served_name_args(model_id: str, served_name: str) -> list[str]:
    """``--served-model-name`` (SGLang's and vLLM's spelling), when the model is served under another name."""
    return [] if served_name == model_id else ["--served-model-name", served_name]
