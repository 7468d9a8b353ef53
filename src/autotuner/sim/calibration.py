"""The roofline model's efficiency and overhead parameters, and the values fitted on measured runs.

``Calibration`` holds what the datasheet cannot say: how much of the peak GEMMs, attention and memory
reads reach, what a step and each sequence in it cost the framework (scheduler, sampling, launches),
and what a request costs the front end (HTTP, tokenizing, detokenizing). ``DEFAULT`` is the
hand-set model the twin always had; ``FITTED`` holds per-engine values that ``scripts/fit_twin.py``
fitted on the fit rows of the silicon file (provenance in ``FITTED_PROVENANCE``); they are used for
models and GPUs without aiconfigurator tables (the roofline fallback).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Calibration:
    compute_efficiency: float = 0.6  # share of the tensor-core peak that large GEMMs reach
    memory_efficiency: float = 0.8  # share of HBM bandwidth that weight and KV reads reach
    attention_efficiency: float = 0.5
    moe_efficiency: float = 1.0  # grouped expert GEMMs relative to dense ones (routing, imbalance)
    prefill_efficiency: float = 1.0  # GEMMs of steps with prefill, relative to compute_efficiency
    step_overhead_s: float = 0.45e-3  # scheduling, sampling, launch of one step
    per_sequence_s: float = 15e-6  # per sequence in a step (metadata, sampling)
    prefill_step_s: float = 0.5e-3  # extra for a step with prefill (attention metadata, batch preparation)
    per_layer_s: float = 0.0  # per layer and step: kernels a CUDA graph still runs one after another
    # The front end (HTTP, chat template, tokenizer): a request reaches the scheduler this much later.
    request_overhead_s: float = 0.0
    tokenize_per_token_s: float = 0.0

    def with_values(self, **values: float) -> "Calibration":
        known = {f.name for f in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"calibration: unknown parameter(s) {sorted(unknown)}; known: {sorted(known)}")
        return replace(self, **values)


DEFAULT = Calibration()

FITTED_PROVENANCE = (
    'scripts/fit_twin.py on silicon_sglang_vllm_agg.csv (sha256 5574220afcf8), fit rows only (sglang 516,'
    ' vllm 709), 2026-12-03'
)
FITTED: dict[str, Calibration] = {
    "sglang": Calibration(
        compute_efficiency=0.3461, memory_efficiency=0.9201, attention_efficiency=0.8119,
        moe_efficiency=0.2984, prefill_efficiency=0.2156, step_overhead_s=0.002883,
        per_sequence_s=2.354e-05, prefill_step_s=0.004508, per_layer_s=6.608e-05, request_overhead_s=0.0046,
        tokenize_per_token_s=1.949e-06
    ),
    "vllm": Calibration(
        compute_efficiency=0.3461, memory_efficiency=0.7755, attention_efficiency=0.2444,
        moe_efficiency=0.177, prefill_efficiency=1.392, step_overhead_s=0.001491, per_sequence_s=3.496e-08,
        prefill_step_s=0.004508, per_layer_s=3.878e-05, request_overhead_s=0.0046,
        tokenize_per_token_s=1.949e-06
    ),
}


def fitted(engine: str) -> Calibration:
    """The fitted calibration of ``engine`` (``sglang``/``vllm``), else the defaults."""
    if engine == "trtllm":  # fitted on its own silicon file (scripts/fit_twin_trtllm.py)
        from . import calibration_trtllm
        values = calibration_trtllm.FITTED
        return DEFAULT.with_values(**values) if values is not None else DEFAULT
    return FITTED.get(engine, DEFAULT)
