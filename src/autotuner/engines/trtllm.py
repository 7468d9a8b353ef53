"""TensorRT-LLM: ``trtllm-serve MODEL --host H --port P ...`` plus an extra-options YAML file.

``trtllm-serve`` takes a few click options on its command line (``--max_batch_size``, ``--tp_size``...);
everything else is an LLM-API option read from the YAML file named by ``--extra_llm_api_options``.
A task names those ``extra.<field>[.<sub-field>]`` (``extra.cuda_graph_config.max_batch_size``): the
adapter nests them into that file's content, and the deployer writes the file per experiment and
passes its path. GPUs per experiment: TP x PP (attention data parallelism and expert parallelism
split the same GPUs, they add none).
"""

from __future__ import annotations

from typing import Any

import yaml

from .base import EngineAdapter, command_available
from .launch import ConfigFile, LaunchSpec

EXTRA_PREFIX = "extra."
EXTRA_OPTIONS_FLAG = "--extra_llm_api_options"
EXTRA_OPTIONS_FILE = "extra-llm-api-options.yaml"


class TensorRTLLM(EngineAdapter):
    name = "trtllm"
    health_path = "/health"
    default_port = 8000
    # quantization is not mapped: TensorRT-LLM takes it from the checkpoint (a pre-quantized model)
    aliases = {"tp": "tensor_parallel_size", "pp": "pipeline_parallel_size", "ep": "moe_expert_parallel_size",
               "kv_cache_dtype": "extra.kv_cache_config.dtype"}
    parallel_flags = {"tp": ("tensor_parallel_size", "tp_size", "extra.tensor_parallel_size"),
                      "pp": ("pipeline_parallel_size", "pp_size", "extra.pipeline_parallel_size")}

    def executable(self) -> list[str]:
        return ["trtllm-serve"]

    def model_args(self, model_id: str, served_name: str) -> list[str]:
        return [model_id]  # trtllm-serve has no served-name flag: it serves the model under MODEL

    def runnable(self) -> tuple[bool, str]:
        if command_available("trtllm-serve"):
            return True, "trtllm-serve is on PATH"
        return False, "the trtllm-serve command is not installed in this environment (use --simulate)"

    def gpu_count(self, config: dict[str, Any]) -> int:
        return self.parallel_degree(config, "tp") * self.parallel_degree(config, "pp")

    def flag_args(self, config: dict[str, Any]) -> list[str]:
        """The command-line part: every flag that is not ``extra.*``."""
        serve = {k: v for k, v in self.canonical(config).items() if not k.startswith(EXTRA_PREFIX)}
        return super().flag_args(serve)

    def extra_options(self, config: dict[str, Any]) -> dict[str, Any]:
        """The ``extra.*`` flags nested into the LLM-API options mapping (None values left out)."""
        out: dict[str, Any] = {}
        for flag, value in self.canonical(config).items():
            if not flag.startswith(EXTRA_PREFIX) or value is None:
                continue
            *parents, leaf = flag[len(EXTRA_PREFIX):].split(".")
            node = out
            for key in parents:
                child = node.setdefault(key, {})
                if not isinstance(child, dict):
                    raise ValueError(f"{flag}: '{EXTRA_PREFIX}{key}' is also set to a plain value ({child!r})")
                node = child
            value = _typed(flag, value)
            if isinstance(node.get(leaf), dict) and isinstance(value, dict):
                node[leaf] = {**value, **node[leaf]}  # sub-fields set one by one win over the whole object
            else:
                node[leaf] = value
        return out

    def extra_options_yaml(self, config: dict[str, Any]) -> str | None:
        options = self.extra_options(config)
        return yaml.safe_dump(options, sort_keys=True) if options else None

    def command_with_files(self, command: str, config: dict[str, Any]) -> str:
        """A copy-ready ``command``: the YAML written by a here-document first, then passed to it."""
        content = self.extra_options_yaml(config)
        if content is None:
            return command
        return (f"cat > {EXTRA_OPTIONS_FILE} <<'EOF'\n{content}EOF\n"
                f"{command} {EXTRA_OPTIONS_FLAG} {EXTRA_OPTIONS_FILE}")

    def launch_spec(self, model_id: str, served_name: str, config: dict[str, Any],
                    simulate: dict[str, Any] | None = None) -> LaunchSpec:
        config = dict(config)
        if any(k.lstrip("-") in ("config", "extra_llm_api_options") for k in config) and \
                any(k.startswith(EXTRA_PREFIX) for k in self.canonical(config)):
            raise ValueError("trtllm: set the LLM-API options either as extra.* flags or with your own "
                             "--extra_llm_api_options file, not both")
        spec = super().launch_spec(model_id, model_id, config, simulate)
        content = self.extra_options_yaml(config)
        if content is not None:
            spec.files = [ConfigFile(EXTRA_OPTIONS_FLAG, EXTRA_OPTIONS_FILE, content)]
        return spec


def _typed(flag: str, value: Any) -> Any:
    """A value as the YAML should hold it: the catalog's type (``"true"`` -> true, ``"8"`` -> 8)."""
    if not isinstance(value, str):
        return value
    from .catalog import CatalogError, load_catalog
    try:
        found = load_catalog("trtllm").lookup(flag)
    except CatalogError:
        found = None
    kind = found[1].get("type") if found else None
    try:
        if kind == "bool" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind in ("json", "list"):
            return yaml.safe_load(value)
    except ValueError:
        return value  # the catalog check reports it
    return value
