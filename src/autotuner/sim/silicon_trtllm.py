"""Measured TensorRT-LLM runs (``silicon_trtllm_agg.csv``) as ``predict`` calls on the trtllm twin.

The file has the columns of the SGLang/vLLM one (``silicon.read_rows`` reads it). A row becomes
``trtllm-serve``'s own flags: ``--tp_size`` is every GPU of the instance (with attention data
parallelism the attention ranks split the same GPUs), ``--ep_size`` the expert-parallel size,
``--max_batch_size`` the row's users (the benchmarked servers were sized to their load), chunked
context when a prompt is longer than the token budget, and the checkpoint's weight format, which the
real server reads from the checkpoint, as the twin's ``--checkpoint-quantization``.
"""

from __future__ import annotations

from .config_trtllm import DEFAULT_MAX_NUM_TOKENS
from .predict import Prediction, predict
from .silicon import QUANT_FLAGS, SiliconRow, row_requests


def trtllm_row_flags(row: SiliconRow) -> list[str]:
    if row.gemm_quant not in QUANT_FLAGS or row.moe_quant not in QUANT_FLAGS:
        raise ValueError(f"weight format {row.gemm_quant or row.moe_quant!r} is not one of: "
                         f"{', '.join(q for q in QUANT_FLAGS if q)}")
    quant = QUANT_FLAGS[row.moe_quant] or QUANT_FLAGS[row.gemm_quant]
    flags = ["--tp_size", str(row.num_gpus), "--max_batch_size", str(max(row.users, 1))]
    if row.moe_ep > 1:
        flags += ["--ep_size", str(row.moe_ep)]
    if row.isl + row.osl > DEFAULT_MAX_NUM_TOKENS:
        flags += ["--enable_chunked_prefill"]
    if quant:
        flags += ["--checkpoint-quantization", quant]
    return flags


def predict_trtllm_row(row: SiliconRow, **kwargs) -> Prediction:
    """The twin's benchmark of the row (``SimStartupError``/``ValueError`` when it cannot model it)."""
    return predict("trtllm", row.gpu, row.model, trtllm_row_flags(row), f"D({row.isl},{row.osl})",
                   concurrency=row.users, num_requests=row_requests(row), **kwargs)
