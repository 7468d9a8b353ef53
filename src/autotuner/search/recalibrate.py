"""Recalibration: the twin's predictions corrected by the real experiments measured so far.

Per (engine, GPU, model), each metric gets a correction ``measured = scale x predicted ** exponent``,
fitted in log space: the exponent is the Theil-Sen slope (the median of the pairwise slopes, robust
to an outlier experiment) once three experiments spread the predictions, else 1; the scale is the
median log-ratio left. A fixed per-step or per-request framework cost the twin lacks shows up as a
ratio that shrinks as the predicted value grows, which the exponent follows.

``after_experiment`` is the tuner's hook: after each measured experiment it refits and re-ranks
the rest of the search prior with the corrected predictions, enqueueing the best unmeasured
candidate when the correction changed which one that is. ``recalibration_block`` is results.json's
report: median relative |error| of the raw predictions, and of the corrected ones (each experiment
predicted by a correction fitted on the others), on the measured experiments.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from ..bench.metrics import LATENCY_METRICS, PERCENTILES

CORRECTED = tuple([f"{b}_{s}" for b in LATENCY_METRICS for s in ("mean", *(f"p{p}" for p in PERCENTILES))]
                  + ["output_throughput", "output_throughput_per_gpu", "input_throughput", "total_throughput",
                     "request_throughput", "goodput"])
REPORTED = ("ttft_p90", "tpot_p90", "output_throughput")
MIN_SPREAD = 0.05  # log-units of predicted values below which a slope means nothing
EXPONENT_RANGE = (0.25, 4.0)


@dataclass
class MetricFit:
    scale: float = 1.0
    exponent: float = 1.0
    points: int = 0

    def apply(self, value: float) -> float:
        return self.scale * value ** self.exponent if value > 0 else value


def _positive_pairs(pairs: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(math.log(p), math.log(m)) for p, m in pairs
            if isinstance(p, (int, float)) and isinstance(m, (int, float)) and p > 0 and m > 0
            and math.isfinite(p) and math.isfinite(m)]


def fit_metric(pairs: list[tuple[float, float]]) -> MetricFit:
    """The correction of one metric from (predicted, measured) pairs."""
    logs = _positive_pairs(pairs)
    if not logs:
        return MetricFit()
    xs = [x for x, _ in logs]
    exponent = 1.0
    if len(logs) >= 3 and max(xs) - min(xs) >= MIN_SPREAD:
        slopes = [(y2 - y1) / (x2 - x1) for i, (x1, y1) in enumerate(logs) for x2, y2 in logs[i + 1:]
                  if abs(x2 - x1) >= MIN_SPREAD / 4]
        if slopes:
            exponent = min(max(statistics.median(slopes), EXPONENT_RANGE[0]), EXPONENT_RANGE[1])
    offset = statistics.median(y - exponent * x for x, y in logs)
    return MetricFit(math.exp(offset), exponent, len(logs))


@dataclass
class Correction:
    fits: dict[str, MetricFit] = field(default_factory=dict)

    def apply(self, metrics: dict[str, float]) -> dict[str, float]:
        out = dict(metrics)
        for name, fit in self.fits.items():
            v = out.get(name)
            if isinstance(v, (int, float)) and math.isfinite(v):
                out[name] = fit.apply(v)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {m: {"scale": round(f.scale, 4), "exponent": round(f.exponent, 4), "points": f.points}
                for m, f in self.fits.items() if m in REPORTED}


def fit_correction(observations: list[tuple[dict, dict]]) -> Correction:
    """One ``MetricFit`` per metric present in both the predictions and the measurements."""
    return Correction({m: fit_metric([(p.get(m), q.get(m)) for p, q in observations])
                       for m in CORRECTED if any(m in p and m in q for p, q in observations)})


@dataclass
class Recalibration:
    """The measurements so far, per (engine, GPU, model), and their current corrections."""
    observations: dict[tuple[str, str, str], list[tuple[dict, dict]]] = field(default_factory=dict)
    corrections: dict[tuple[str, str, str], Correction] = field(default_factory=dict)
    prior: dict[str, Any] = field(default_factory=dict)  # params_key -> corrected Prediction, unmeasured ones

    def observe(self, engine: str, gpu: str, model: str, predicted: dict, measured: dict) -> Correction:
        key = (engine, gpu, model)
        self.observations.setdefault(key, []).append((dict(predicted), dict(measured)))
        self.corrections[key] = fit_correction(self.observations[key])
        return self.corrections[key]

    def correction(self, engine: str, gpu: str, model: str) -> Correction:
        return self.corrections.get((engine, gpu, model), Correction())


def relative_error(predicted: float | None, measured: float | None) -> float | None:
    if not isinstance(predicted, (int, float)) or not isinstance(measured, (int, float)):
        return None
    if not measured or not math.isfinite(predicted) or not math.isfinite(measured):
        return None
    return abs(predicted - measured) / abs(measured)


def median_errors(pairs: list[tuple[dict, dict]], metrics: tuple[str, ...] = REPORTED) -> dict[str, float | None]:
    """Median relative |error| per metric over (predicted, measured) pairs, and ``all`` pooled."""
    out: dict[str, float | None] = {}
    pooled: list[float] = []
    for m in metrics:
        errors = [e for p, q in pairs if (e := relative_error(p.get(m), q.get(m))) is not None]
        pooled += errors
        out[m] = round(statistics.median(errors), 4) if errors else None
    out["all"] = round(statistics.median(pooled), 4) if pooled else None
    return out


def prior_key(task) -> tuple[str, str, str]:
    """What the twin predicted for: the task's engine, the simulated GPU, the model."""
    gpu = task.simulate.gpu if task.simulate else "h100"
    return task.engine, gpu, task.model.id


def corrected_prediction(task, pred, correction: Correction):
    """The twin's verdict on one configuration with the correction applied (score and SLO check redone)."""
    from .scoring import is_feasible, objective_values
    from .warm_start import Prediction

    if pred.failed:
        return pred
    metrics = correction.apply({k: v for k, v in pred.metrics.items() if k != "_score"})
    metrics["_score"] = objective_values(task, metrics)[0]
    return Prediction(pred.params, metrics, is_feasible(task, metrics))


def after_experiment(state: Recalibration | None, task, predictions: dict, measured_keys: set[str], study,
                     codec, params: dict, metrics: dict) -> Recalibration | None:
    """The tuner's hook, after a measured experiment: refit, correct the rest of the prior, and
    enqueue its best unmeasured candidate when the correction changed which one that is. Returns
    the recalibration state to keep (None until a predicted experiment was measured)."""
    from ..store import params_key
    from .warm_start import top_candidates

    pred = predictions.get(params_key(params))
    if pred is None or pred.failed or not metrics:
        return state
    state = state or Recalibration()
    correction = state.observe(*prior_key(task), pred.metrics, metrics)
    rest = {k: p for k, p in predictions.items() if k not in measured_keys}
    corrected = {k: corrected_prediction(task, p, correction) for k, p in rest.items()}
    state.prior = corrected
    raw_best, best = top_candidates(task, rest, 1), top_candidates(task, corrected, 1)
    if best and (not raw_best or best[0].params != raw_best[0].params):
        study.enqueue_trial(codec.encode(best[0].params), skip_if_exists=True)
    return state


def recalibration_block(task, experiments: list) -> dict[str, Any] | None:
    """results.json's ``recalibration``: errors before and after, on the measured experiments, in order."""
    pairs = [((e.predicted or {}).get("metrics") or {}, e.metrics or {}) for e in experiments
             if not e.baseline and e.status in ("succeeded", "infeasible") and (e.predicted or {}).get("metrics")
             and not (e.predicted or {}).get("failed")]
    if not pairs:
        return None
    engine, gpu, model = prior_key(task)
    held_out = [(fit_correction(pairs[:i] + pairs[i + 1:]).apply(p) if len(pairs) > 1 else p, q)
                for i, (p, q) in enumerate(pairs)]
    return {"engine": engine, "gpu": gpu, "model": model, "experiments": len(pairs),
            "fit": "measured = scale x predicted ^ exponent per metric (log space: Theil-Sen slope, median offset)",
            "correction": fit_correction(pairs).to_dict(),
            "median_abs_error_before": median_errors(pairs),
            "median_abs_error_after": median_errors(held_out),
            "after_is": "each experiment predicted by the correction fitted on the other experiments"}
