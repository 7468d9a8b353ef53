"""Known constraints: configurations rejected before anything is deployed, with the reason."""

from __future__ import annotations

from typing import Any

from ..engines import get_adapter
from ..engines.launch import engine_config
from ..spec.task import Task


def _attention_heads(model_id: str) -> int | None:
    try:
        from ..hardware.models import load_model
        return int(load_model(model_id).num_attention_heads)
    except Exception:  # unknown model: the engine itself will say
        return None


def known_constraint_violation(task: Task, params: dict[str, Any], pool_size: int) -> str | None:
    adapter = get_adapter(task.engine)
    config = engine_config(task, params)
    need = adapter.gpu_count(config)
    if need > pool_size:
        return (f"needs {need} GPUs (tp x pp x dp) but the task has {pool_size}; "
                f"lower the parallel sizes or add GPUs")
    if task.engine == "llamacpp":
        from ..engines.llamacpp import task_constraint
        reason = task_constraint(task, config)
        if reason:
            return reason
    tp = adapter.parallel_degree(config, "tp")
    heads = _attention_heads(task.model.id) if tp > 1 else None
    if heads and heads % tp:
        return f"tensor parallel size {tp} does not divide the model's {heads} attention heads"
    return None
