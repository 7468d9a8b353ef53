"""SGLang: ``python -m sglang.launch_server --model-path M ...``."""

from __future__ import annotations

import sys

from .base import EngineAdapter, python_module_available, served_name_args


class SGLang(EngineAdapter):
    name = "sglang"
    health_path = "/health"
    default_port = 30000
    aliases = {"tp": "tp-size", "pp": "pp-size", "dp": "dp-size", "ep": "ep-size",
               "kv_cache_dtype": "kv-cache-dtype", "quantization": "quantization"}
    parallel_flags = {"tp": ("tp-size", "tensor-parallel-size"), "pp": ("pp-size", "pipeline-parallel-size"),
                      "dp": ("dp-size", "data-parallel-size")}

    def executable(self) -> list[str]:
        return [sys.executable, "-m", "sglang.launch_server"]

    def model_args(self, model_id: str, served_name: str) -> list[str]:
        return ["--model-path", model_id] + served_name_args(model_id, served_name)

    def runnable(self) -> tuple[bool, str]:
        if python_module_available("sglang"):
            return True, "sglang is installed"
        return False, "the sglang package is not installed in this environment (use --simulate)"
