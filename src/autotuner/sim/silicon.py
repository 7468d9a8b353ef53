"""Measured SGLang/vLLM runs (the silicon CSV) as ``predict`` calls, the fit/held-out split and the errors.

A row is one closed-loop benchmark: ``batch_size`` users sending ``D(isl, osl)`` requests to one engine
configuration. ``row_request`` turns it into the engine's own flags, as the engines spell them:

* SGLang: ``--tp-size`` is every GPU of the instance (attention TP x attention DP), ``--enable-dp-attention
  --dp-size N`` splits attention into N data-parallel ranks, ``--ep-size`` spreads the experts;
* vLLM: ``--tensor-parallel-size`` per data-parallel rank, ``--data-parallel-size N``,
  ``--enable-expert-parallel`` (the experts then span TP x DP GPUs);
* weights: ``fp8``/``fp8_block`` -> ``--quantization fp8``, ``nvfp4`` -> ``modelopt_fp4``, ``mxfp4`` ->
  ``mxfp4``, ``int4_wo`` (INT4 weight-only, e.g. Kimi's) -> ``gptq_marlin``.

The split holds out whole configurations (every row of one engine configuration on one GPU is on the
same side) by a hash of the configuration, so the same rows are held out on every machine.
Throughput is not in the file; as its README says, it follows from the row as
``users * osl / (ttft + (osl - 1) * tpot)``, and the twin's is computed the same way from its TTFT/TPOT.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

from .predict import Prediction, predict

HOLD_OUT_SHARE = 0.3  # of configurations, by hash
MAX_TOKENS_PER_ROW = 6_000_000  # output tokens replayed for one row (memory on a 2-core, 24 GiB machine)
REQUESTS_PER_USER = 10  # measured benchmarks commonly send ten requests per user

QUANT_FLAGS = {"": None, "bf16": None, "fp16": None, "fp8": "fp8", "fp8_block": "fp8", "nvfp4": "modelopt_fp4",
               "mxfp4": "mxfp4", "int4_wo": "gptq_marlin", "w4a16": "gptq_marlin"}


@dataclass(frozen=True)
class SiliconRow:
    id: str
    engine: str
    version: str
    model: str
    gpu: str
    precision: str
    gemm_quant: str
    moe_quant: str
    isl: int
    osl: int
    users: int
    tp: int
    attention_dp: int
    moe_tp: int
    moe_ep: int
    ttft_s: float
    tpot_s: float
    config_key: str = field(default="", compare=False)

    @property
    def throughput(self) -> float:
        return output_throughput(self.users, self.osl, self.ttft_s, self.tpot_s)

    @property
    def num_gpus(self) -> int:
        return self.tp * self.attention_dp

    @property
    def family(self) -> str:
        return model_family(self.model)


def output_throughput(users: int, osl: int, ttft: float, tpot: float) -> float:
    return users * osl / (ttft + (osl - 1) * tpot)


def model_family(model: str) -> str:
    name = model.rsplit("/", 1)[-1].lower()
    for prefix, family in (("llama-3.1-8b", "Llama-3.1-8B"), ("llama-3.1-70b", "Llama-3.1-70B"),
                           ("qwen3-32b", "Qwen3-32B"), ("qwen3-235b", "Qwen3-235B-A22B"),
                           ("qwen3.5-397b", "Qwen3.5-397B-A17B"), ("deepseek", "DeepSeek-V3/R1"),
                           ("kimi", "Kimi-K2.5"), ("minimax", "MiniMax-M2.5"), ("glm", "GLM-5"),
                           ("gpt-oss", "gpt-oss-120b")):
        if name.startswith(prefix):
            return family
    return name


def _int(text: str, default: int = 1) -> int:
    try:
        value = int(float(text))
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def _config_id(row: dict) -> str:
    for part in (row.get("silicon_data_source") or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == "config_id" and value:
            return value
    return ""


def read_rows(path: Path) -> list[SiliconRow]:
    """The file's rows; a row missing a measurement is skipped (there is nothing to compare)."""
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for raw in csv.DictReader(f):
            try:
                ttft, tpot = float(raw["silicon_ttft_ms"]) / 1000, float(raw["silicon_tpot_ms"]) / 1000
            except (KeyError, TypeError, ValueError):
                continue
            row = SiliconRow(
                id=raw.get("id", ""), engine=raw["backend"], version=raw.get("backend_version", ""),
                model=raw["model_path"], gpu=raw["system"], precision=raw.get("precision", ""),
                gemm_quant=raw.get("gemm_quant_mode", ""), moe_quant=raw.get("moe_quant_mode", ""),
                isl=_int(raw["isl"]), osl=_int(raw["osl"]), users=_int(raw["batch_size"]),
                tp=_int(raw.get("tp_size")), attention_dp=_int(raw.get("attention_dp_size")),
                moe_tp=_int(raw.get("moe_tp_size")), moe_ep=_int(raw.get("moe_ep_size")), ttft_s=ttft, tpot_s=tpot)
            key = "|".join([row.engine, row.version, row.model, row.gpu, row.gemm_quant, row.moe_quant,
                            f"{row.tp}/{row.attention_dp}/{row.moe_tp}/{row.moe_ep}", _config_id(raw)])
            out.append(SiliconRow(**{**row.__dict__, "config_key": key}))
    return out


def held_out(row: SiliconRow) -> bool:
    """Whether the row's configuration is kept out of fitting (a stable hash, not Python's ``hash``)."""
    digest = hashlib.sha256(row.config_key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < HOLD_OUT_SHARE


def row_flags(row: SiliconRow) -> list[str]:
    """The engine's own command-line flags for the row's configuration."""
    if row.gemm_quant not in QUANT_FLAGS or row.moe_quant not in QUANT_FLAGS:
        raise ValueError(f"weight format {row.gemm_quant or row.moe_quant!r} is not one of: "
                         f"{', '.join(q for q in QUANT_FLAGS if q)}")
    quant = QUANT_FLAGS[row.moe_quant] or QUANT_FLAGS[row.gemm_quant]
    flags: list[str] = []
    if row.engine == "sglang":
        flags += ["--tp-size", str(row.num_gpus)]
        if row.attention_dp > 1:
            flags += ["--enable-dp-attention", "--dp-size", str(row.attention_dp)]
        if row.moe_ep > 1:
            flags += ["--ep-size", str(row.moe_ep)]
    else:
        flags += ["--tensor-parallel-size", str(row.tp)]
        if row.attention_dp > 1:
            flags += ["--data-parallel-size", str(row.attention_dp)]
        if row.moe_ep > 1:
            flags += ["--enable-expert-parallel"]
    if quant:
        flags += ["--quantization", quant]
    # the benchmark's requests bound the context (a model's 256k default would not fit vLLM's check)
    context = -(-(row.isl + row.osl + 64) // 1024) * 1024
    flags += ["--context-length" if row.engine == "sglang" else "--max-model-len", str(context)]
    return flags


def row_requests(row: SiliconRow) -> int:
    wanted = max(16, REQUESTS_PER_USER * row.users)
    return max(row.users, min(wanted, MAX_TOKENS_PER_ROW // max(row.osl, 1)))


def predict_row(row: SiliconRow, **kwargs) -> Prediction:
    """The twin's benchmark of the row (raises ``SimStartupError``/``ValueError`` when it cannot model it)."""
    return predict(row.engine, row.gpu, row.model, row_flags(row), f"D({row.isl},{row.osl})",
                   concurrency=row.users, num_requests=row_requests(row), **kwargs)


def relative_errors(row: SiliconRow, p: Prediction) -> dict[str, float]:
    """Relative |error| (0.1 = 10%) of TTFT, TPOT and output throughput; the signed ones with ``_signed``."""
    ttft, tpot = p.metrics["ttft_mean"], p.metrics["tpot_mean"]
    predicted = {"ttft": ttft, "tpot": tpot, "throughput": output_throughput(row.users, row.osl, ttft, tpot)}
    truth = {"ttft": row.ttft_s, "tpot": row.tpot_s, "throughput": row.throughput}
    out = {}
    for key, value in predicted.items():
        signed = (value - truth[key]) / truth[key] if truth[key] > 0 and math.isfinite(value) else math.inf
        out[key] = abs(signed)
        out[f"{key}_signed"] = signed
    return out


def quantile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)
