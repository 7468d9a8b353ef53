"""Can the engine that will run a task serve its model? Asked before anything starts.

The simulated engine needs the model's shape: a model it has built in, or a local directory with a
Hugging Face ``config.json``. llama.cpp needs a local GGUF file or an installed model package. A real
SGLang or vLLM downloads by id at start-up, which cannot be checked offline, so it is not asked here.
"""

from __future__ import annotations

from ..spec.task import Task

SIMULATED_ENGINES = ("sglang", "vllm")


def model_problems(task: Task, simulated: bool) -> list[str]:
    """``model.id: ...`` lines naming the models that would work, or [] when the model is servable."""
    if simulated and task.engine in SIMULATED_ENGINES:
        from ..hardware.models import load_model
        try:
            load_model(task.model.id)
        except ValueError as e:
            return [f"model.id: {e}"]
        return []
    if not simulated and task.engine == "llamacpp":
        from .models import ModelResolutionError, resolve_gguf
        try:
            resolve_gguf(task.model.id)
        except ModelResolutionError as e:
            return [f"model.id: {e}"]
    return []
