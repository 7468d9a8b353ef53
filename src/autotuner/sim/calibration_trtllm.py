"""The trtllm personality's calibration, fitted on TensorRT-LLM's own measured runs.

``scripts/fit_twin_trtllm.py`` fits ``calibration.Calibration``'s parameters on the fit rows of
``silicon_trtllm_agg.csv`` (never the held-out configurations) and writes them into the FITTED block
below with their provenance, as plain values (this module imports nothing, so ``calibration`` can
read it). ``calibration.fitted("trtllm")`` answers with them; ``None`` (before a fit) falls back to
the hand-set defaults.
"""

from __future__ import annotations

FITTED_PROVENANCE = (
    'scripts/fit_twin_trtllm.py on silicon_trtllm_agg.csv (sha256 61088107aef3), fit rows only (719), '
    '2026-12-03'
)
FITTED: dict[str, float] | None = dict(
    compute_efficiency=0.8143, memory_efficiency=0.9201, attention_efficiency=0.7021,
    moe_efficiency=0.29, prefill_efficiency=0.8215, step_overhead_s=0.002394, per_sequence_s=1.175e-07,
    prefill_step_s=0.01803, per_layer_s=2.006e-05, request_overhead_s=0.1092,
    tokenize_per_token_s=7.6e-06
)
