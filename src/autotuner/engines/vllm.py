"""vLLM: ``vllm serve M ...``."""

from __future__ import annotations

from .base import EngineAdapter, command_available, served_name_args


class VLLM(EngineAdapter):
    name = "vllm"
    health_path = "/health"
    default_port = 8000
    aliases = {"tp": "tensor-parallel-size", "pp": "pipeline-parallel-size", "dp": "data-parallel-size",
               "ep": "enable-expert-parallel", "kv_cache_dtype": "kv-cache-dtype", "quantization": "quantization"}
    parallel_flags = {"tp": ("tensor-parallel-size", "tp"), "pp": ("pipeline-parallel-size", "pp"),
                      "dp": ("data-parallel-size", "dp")}

    def executable(self) -> list[str]:
        return ["vllm", "serve"]

    def model_args(self, model_id: str, served_name: str) -> list[str]:
        return [model_id] + served_name_args(model_id, served_name)

    def runnable(self) -> tuple[bool, str]:
        if command_available("vllm"):
            return True, "vllm is on PATH"
        return False, "the vllm command is not installed in this environment (use --simulate)"
