"""Step times and memory from aiconfigurator's measured tables: ``TableCostModel``, ``select_cost_model``.

A table (see ``aic_live``) holds, per (GPU, engine, model, TP, KV dtype, weight format), the time of
the linear layers of a step of T tokens, of decode attention (batch x context), of prefill attention
(new sequences x length) and what cached tokens add to it. One iteration costs, as aiconfigurator
composes it:

* decode only: ``decode_linear(b) + decode_attn(b, mean context)``;
* with prefill: ``prefill_linear(prefill tokens + b) + prefill_attn(k, n) + sum prefix_attn(n_i, cached_i)
  + decode_attn(b, mean context)``: the ``k`` chunks count as ``k`` new sequences of equal length ``n``
  with the same query-key pairs (``n^2 = mean n_i^2``), and each chunk on top of cached tokens adds
  its own extra.

Interpolation is piecewise power-law: linear in (log x, log y) between neighbouring grid points, so
it is exact on the grid, monotone between points, and exact for ``y ~ x^a`` (attention ~ length^2,
memory-bound time ~ constant). Outside the grid: below the first point the value is clamped (the
cached-token extra shrinks in proportion instead); above the last it grows in proportion to ``x``
(tokens, batch, context, sequences, cached tokens) or ``x^2`` (prefill length: attention is quadratic).

aiconfigurator prices kernels, not the host: a decode step that cannot replay a CUDA graph (eager
mode, or a batch above the captured sizes) adds the roofline model's kernel-launch overhead, and
``torch.compile`` shortens graph decode steps by ``compile_speedup`` as in the roofline model.
"""

from __future__ import annotations

import bisect
import json
import math
import os
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from . import aic_live
from .calibration import DEFAULT, Calibration
from .costmodel import EAGER_LAUNCH_PER_LAYER_S, CostModel, RooflineCostModel, StepWork
from ..hardware.gpus import GIB, get_gpu
from ..hardware.models import BUILTIN, ModelSpec, builtin_model, load_model

TABLES_DIR = Path(__file__).resolve().parent / "tables"
LIVE_ENV = "AUTOTUNER_AIC_LIVE"  # "0" turns the live aiconfigurator query off
_TINY = 1e-6


class _Axis:
    """One grid axis: where ``x`` falls, as (lower index, upper index, weight, extrapolation factor)."""

    def __init__(self, points: list[float], above_power: float, below_power: float = 0.0):
        if sorted(points) != list(points) or len(set(points)) != len(points) or points[0] <= 0:
            raise ValueError(f"grid points must be positive and increase: {points}")
        self.points = [float(p) for p in points]
        self.keys = [math.log(p) for p in self.points]
        self.above_power, self.below_power = above_power, below_power

    def locate(self, x: float) -> tuple[int, int, float, float]:
        pts, last = self.points, len(self.points) - 1
        if x <= pts[0]:
            return 0, 0, 0.0, (max(x, 0.0) / pts[0]) ** self.below_power if self.below_power else 1.0
        if x >= pts[last]:
            return last, last, 0.0, (x / pts[last]) ** self.above_power
        hi = bisect.bisect_right(pts, x)
        lo = hi - 1
        return lo, hi, (math.log(x) - self.keys[lo]) / (self.keys[hi] - self.keys[lo]), 1.0


def _logs(values):
    if isinstance(values, list):
        return [_logs(v) for v in values]
    return math.log(max(float(values), _TINY))


class _Grid:
    """Values on the product of axes, interpolated in log space (multilinear over the corners)."""

    def __init__(self, axes: list[_Axis], values):
        self.axes, self.logs = axes, _logs(values)
        self._check(self.logs, 0)

    def _check(self, node, depth: int) -> None:
        if depth == len(self.axes):
            return
        if not isinstance(node, list) or len(node) != len(self.axes[depth].points):
            raise ValueError(f"table values do not match the grid on axis {depth}")
        for child in node:
            self._check(child, depth + 1)

    def __call__(self, *xs: float) -> float:
        spots = [axis.locate(x) for axis, x in zip(self.axes, xs)]
        scale = 1.0
        for spot in spots:
            scale *= spot[3]
        return math.exp(self._blend(self.logs, spots, 0)) * scale

    def _blend(self, node, spots, depth: int) -> float:
        if depth == len(spots):
            return node
        lo, hi, w, _ = spots[depth]
        low = self._blend(node[lo], spots, depth + 1)
        if w == 0.0:
            return low
        return low + w * (self._blend(node[hi], spots, depth + 1) - low)


class TableCostModel:
    """``CostModel`` backed by one aiconfigurator table (a dict as ``aic_live.build_table`` makes)."""

    def __init__(self, table: dict, compile_speedup: float = 1.0, source: str = "tables"):
        try:
            self.key, memory, shape = table["key"], table["memory"], table["shape"]
            tokens = table["tokens"]
            self._prefill_linear = _Grid([_Axis(tokens, 1)], table["prefill_linear_ms"])
            self._decode_linear = _Grid([_Axis(tokens, 1)], table["decode_linear_ms"])
            da, pa, xa = table["decode_attn"], table["prefill_attn"], table["prefix_attn"]
            self._decode_attn = _Grid([_Axis(da["batch"], 1), _Axis(da["context"], 1)], da["ms"])
            self._prefill_attn = _Grid([_Axis(pa["batch"], 1), _Axis(pa["seq"], 2)], pa["ms"])
            self._prefix_attn = _Grid([_Axis(xa["seq"], 1), _Axis(xa["cached"], 1, below_power=1)], xa["ms"])
            self._weights = int(memory["weight_bytes"])
            self._kv_per_token = int(memory["kv_bytes_per_token"])
            self._act_per_token = float(memory["activation_bytes_per_token"])
            self._act_min = int(memory.get("activation_min_bytes", 0))
            self._layers, self._vocab = int(shape["layers"]), int(shape["vocab"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a step-time table: missing or malformed {e}") from e
        self.table = table
        self.provenance = table.get("provenance", {})
        self.compile_speedup = compile_speedup
        self.source = source
        tp = int(self.key.get("tp", 1))
        self.tp = tp
        self._eager_s = EAGER_LAUNCH_PER_LAYER_S * self._layers * (1.2 if tp > 1 else 1.0)

    def describe(self) -> str:
        k = self.key
        extra = "".join([", KV fp8" if k.get("kv_dtype") == "fp8" else "",
                         ", FP8 weights" if k.get("quant") == "fp8" else ""])
        return (f"aiconfigurator {self.source} ({k['system']}, {k['engine']} {k['engine_version']}, "
                f"{k['model']}, TP {k['tp']}{extra})")

    # -- time -----------------------------------------------------------------------------------------
    def decode_step_ms(self, batch: int, context: float) -> float:
        """A decode-only step of ``batch`` sequences of ``context`` tokens each (CUDA graph), in ms."""
        return self._decode_linear(batch) + self._decode_attn(batch, context)

    def prefill_attention_ms(self, chunks) -> float:
        """Context attention of ``(new tokens, cached tokens)`` chunks run in one step, in ms."""
        k = len(chunks)
        ms = self._prefill_attn(k, math.sqrt(sum(n * n for n, _ in chunks) / k))
        for n, cached in chunks:
            if cached:
                ms += self._prefix_attn(n, cached)
        return ms

    def step_time(self, work: StepWork) -> float:
        b = work.decode_batch
        chunks = work.prefill_chunks
        if not chunks and b == 0:
            return 0.0
        attn = self._decode_attn(b, work.decode_context_tokens / b) if b else 0.0
        if chunks:
            ms = self._prefill_linear(work.prefill_tokens + b) + self.prefill_attention_ms(chunks) + attn
            return ms / 1000.0
        seconds = (self._decode_linear(b) + attn) / 1000.0
        if work.graph:
            return seconds * self.compile_speedup
        return seconds + self._eager_s

    # -- memory ---------------------------------------------------------------------------------------
    def weight_bytes_per_gpu(self) -> int:
        return self._weights

    def kv_bytes_per_token_per_gpu(self) -> int:
        return self._kv_per_token

    def activation_bytes(self, max_tokens_per_step: int) -> int:
        return int(max(max_tokens_per_step * self._act_per_token, self._act_min))

    def cuda_graph_bytes(self, max_bs: int) -> int:
        # aiconfigurator does not count graph memory: the roofline model's rule (activations, FP32 logits)
        per_row = self._act_per_token + self._vocab * 4 // self.tp
        return int(0.25 * GIB + 2 * max_bs * per_row)


# -- shipped tables --------------------------------------------------------------------------------------
@lru_cache(maxsize=32)
def _table_file(path: str) -> tuple[dict, ...]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    provenance = doc.get("provenance", {})
    return tuple({**t, "provenance": provenance} for t in doc.get("tables", []))


def table_files(directory: Path | None = None) -> list[Path]:
    return sorted((directory or TABLES_DIR).glob("*.json"))


def load_tables(directory: Path | None = None) -> list[dict]:
    """Every shipped table, each with its file's ``provenance``."""
    return [t for path in table_files(directory) for t in _table_file(str(path))]


def canonical_model(model_id: str, model: ModelSpec | None = None) -> str | None:
    """The built-in name tables are keyed by: by id (``-Instruct`` etc. stripped) or by identical shape."""
    found = builtin_model(model_id)
    if found is not None:
        return found.name
    if model is not None:
        for spec in BUILTIN.values():
            if replace(spec, max_context=0) == replace(model, name=spec.name, max_context=0):
                return spec.name
    return None


def find_table(model_id: str, gpu: str, engine: str, tp: int, kv_dtype: str | None = "auto",
               quantization: str | None = None, model: ModelSpec | None = None,
               directory: Path | None = None) -> dict | None:
    """The shipped table for this combination, or None."""
    name = canonical_model(model_id, model)
    quant = aic_live.quant_key(quantization)
    system = aic_live.AIC_SYSTEMS.get(get_gpu(gpu).name)
    if name is None or quant is None or system is None:
        return None
    kv = aic_live.kv_key(kv_dtype)
    for table in _table_file(str((directory or TABLES_DIR) / f"{system}-{engine}.json")):
        k = table["key"]
        if (k["model"], k["tp"], k["kv_dtype"], k["quant"]) == (name, tp, kv, quant):
            return table
    return None


def _live_enabled(live: bool | None) -> bool:
    if live is not None:
        return live
    return os.environ.get(LIVE_ENV, "1") != "0" and aic_live.available()


def select_cost_model(model_id: str, gpu: str, engine: str, tp: int = 1, kv_dtype: str | None = "auto",
                      quantization: str | None = None, *, pp: int = 1, dtype: str = "auto",
                      compile_speedup: float = 1.0, model: ModelSpec | None = None,
                      live: bool | None = None, directory: Path | None = None,
                      calibration: Calibration | None = None) -> tuple[CostModel, str]:
    """The most faithful cost model available, and a one-line note saying which one it is.

    In order: a shipped aiconfigurator table; a table built live by aiconfigurator (when importable and
    ``live`` is not False; ``AUTOTUNER_AIC_LIVE=0`` turns it off; answers are cached on disk); the
    roofline model. ``model`` is the model's shape when the caller has it (else loaded from ``model_id``;
    an unknown model raises ``ValueError`` naming the known ones). A local model directory whose
    ``config.json`` has a built-in model's shape uses that model's tables.
    """
    gpu_spec = get_gpu(gpu)
    kv_dtype = kv_dtype or "auto"
    spec = model or load_model(model_id)
    why = _not_tabulated(pp, dtype, quantization, gpu_spec.name)
    if why is None:
        table = find_table(model_id, gpu_spec.name, engine, tp, kv_dtype, quantization, spec, directory)
        if table is not None:
            cost = TableCostModel(table, compile_speedup)
            return cost, f"step times: {cost.describe()}"
        why = "no measured table"
        if _live_enabled(live):
            try:
                table = aic_live.cached_table(model_id, gpu_spec.name, engine, tp, aic_live.kv_key(kv_dtype),
                                              aic_live.quant_key(quantization), spec)
                cost = TableCostModel(table, compile_speedup, source="live")
                return cost, f"step times: {cost.describe()}"
            except (aic_live.AicUnavailable, ValueError) as e:
                why = f"no measured table, and {e}"
    cost = RooflineCostModel(spec, gpu_spec, tp, pp, quantization, kv_dtype, dtype, compile_speedup=compile_speedup,
                             calibration=calibration)
    calibrated = f", calibrated for {engine}" if calibration is not None and calibration is not DEFAULT else ""
    return cost, (f"step times: roofline model{calibrated}: {why} for {model_id} on {gpu_spec.name} "
                  f"({engine}, TP {tp}{f', PP {pp}' if pp > 1 else ''}, KV {kv_dtype}, "
                  f"quantization {quantization or 'none'})")


def _not_tabulated(pp: int, dtype: str, quantization: str | None, gpu: str) -> str | None:
    if pp > 1:
        return "tables cover tensor parallelism only (PP 1)"
    if dtype in ("float", "float32"):
        return "tables cover 16-bit activations only"
    if aic_live.quant_key(quantization) is None:
        return f"tables cover BF16 and FP8 weights, not {quantization}"
    if gpu not in aic_live.AIC_SYSTEMS:
        return f"aiconfigurator has no data for {gpu}"
    return None
