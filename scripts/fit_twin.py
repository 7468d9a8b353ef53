#!/usr/bin/env python
"""Fit the twin's efficiency and framework-overhead parameters on the fit rows of the silicon file.

    .venv/bin/python scripts/fit_twin.py [--data FILE] [--rounds 4] [--dry-run]

Only rows whose configuration is not held out (``autotuner.sim.silicon.held_out``) are used, so
``benchmarks/silicon_fidelity.py`` can report the error on configurations the fit never saw. Per
engine (SGLang, vLLM) the parameters of ``autotuner.sim.calibration.Calibration`` are fitted by a
deterministic pattern search in log space, minimising the mean clipped |log(predicted / measured)|
of TTFT and TPOT. Each evaluation uses a steady-state estimate from the engine's own cost model
(no replay, so a fit takes a minute): a decode step of the row's batch, the prefills of the other
users interleaved once per request cycle, and the first wave's queue for one round in ten. The
result is written into ``src/autotuner/sim/calibration.py`` (the FITTED block) with its provenance.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import math
import re
import sys
import textwrap
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from autotuner.sim import calibration  # noqa: E402
from autotuner.sim.calibration import DEFAULT, Calibration  # noqa: E402
from autotuner.sim.costmodel import RooflineCostModel, StepWork  # noqa: E402
from autotuner.sim.engine import SimEngine  # noqa: E402
from autotuner.sim.errors import SimStartupError  # noqa: E402
from autotuner.sim.predict import engine_argv  # noqa: E402
from autotuner.sim.silicon import REQUESTS_PER_USER, SiliconRow, held_out, read_rows, row_flags  # noqa: E402

CSV = Path("silicon") / "silicon_sglang_vllm_agg.csv"
DEFAULT_DATA = next((p / "shared" / CSV for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared" / CSV).is_file()),
                    ROOT.parent / "shared" / CSV)
PARAMETERS = ("compute_efficiency", "memory_efficiency", "attention_efficiency", "moe_efficiency",
              "prefill_efficiency", "step_overhead_s",
              "per_sequence_s", "per_layer_s", "prefill_step_s", "request_overhead_s", "tokenize_per_token_s")
# Efficiencies stay fractions; overheads stay what a framework plausibly costs (a front end that took
# 50 ms per request would throttle every engine it fronts; such a fit would explain GPU time by host time).
BOUNDS = {"compute_efficiency": (0.05, 0.95), "memory_efficiency": (0.2, 0.95), "attention_efficiency": (0.05, 0.95),
          "moe_efficiency": (0.05, 2.0), "prefill_efficiency": (0.05, 1.5), "step_overhead_s": (0.0, 3e-3), "per_sequence_s": (0.0, 50e-6),
          "per_layer_s": (0.0, 100e-6), "prefill_step_s": (0.0, 5e-3), "request_overhead_s": (0.0, 5e-3),
          "tokenize_per_token_s": (0.0, 2e-6)}
STARTS = {"per_layer_s": 20e-6, "request_overhead_s": 2e-3, "tokenize_per_token_s": 1e-6}  # zero cannot scale
STEPS = (0.5, 0.7, 0.85, 1.18, 1.4, 2.0)
CLIP = 1.0  # |log ratio| above this (a factor e) counts as this: a few odd rows must not steer the fit


class RowModel:
    """One fit row's engine, rebuilt cheaply for each candidate calibration."""

    def __init__(self, row: SiliconRow):
        self.row = row
        self.engine = SimEngine.from_argv(engine_argv(row.engine, row.gpu, row.model, row_flags(row)))
        self.base_cost = self.engine.cost
        replicas = len(self.engine.replicas)
        cfg = self.engine.config
        self.batch = max(1, min(-(-row.users // replicas), cfg.max_running or row.users))
        fit = self.engine.memory.kv_tokens // max(1, row.isl + row.osl)
        self.wanted = self.batch
        self.batch = max(1, min(self.batch, fit))
        self.budget = cfg.chunk_size if cfg.chunked_prefill and cfg.chunk_size else row.isl
        self.mixed = cfg.personality == "vllm" or cfg.mixed_chunk
        self.graph = cfg.cuda_graph and self.batch <= (cfg.cuda_graph_max_bs or 0)

    def predict(self, cal: Calibration) -> tuple[float, float]:
        cost = self.base_cost
        if isinstance(cost, RooflineCostModel):
            cost = replace(cost, calibration=cal, _cache={})
        r, b = self.row, self.batch
        others = b - 1 if self.mixed else 0
        context = int(b * (r.isl + r.osl / 2))
        prefill, done = 0.0, 0
        while done < r.isl:
            chunk = min(self.budget, r.isl - done)
            prefill += cost.step_time(StepWork(((chunk, done),), others, others * (r.isl + r.osl // 2), False))
            done += chunk
        decode = cost.step_time(StepWork((), b, context, self.graph))
        tpot = decode + (b - 1) * prefill / max(r.osl, 1)
        front = cal.request_overhead_s + cal.tokenize_per_token_s * r.isl
        steady = front + prefill + decode / 2
        wave = front * (b + 1) / 2 + prefill * (b + 1) / 2
        if self.wanted > b:  # not every user fits: the others queue for a whole request each
            return steady + (self.wanted / b - 1) * (prefill + r.osl * tpot), tpot
        ttft = (wave + (REQUESTS_PER_USER - 1) * steady) / REQUESTS_PER_USER
        return ttft, tpot


def loss(models: list[RowModel], cal: Calibration) -> float:
    total = 0.0
    for m in models:
        ttft, tpot = m.predict(cal)
        total += min(abs(math.log(ttft / m.row.ttft_s)), CLIP) + min(abs(math.log(tpot / m.row.tpot_s)), CLIP)
    return total / (2 * max(len(models), 1))


def fit(models: list[RowModel], rounds: int) -> tuple[Calibration, float, float]:
    cal = DEFAULT.with_values(**STARTS)
    start = best = loss(models, cal)
    for _ in range(rounds):
        improved = False
        for name in PARAMETERS:
            for step in STEPS:
                value = getattr(cal, name) * step
                low, high = BOUNDS.get(name, (0.0, math.inf))
                if not low <= value <= high:
                    continue
                candidate = cal.with_values(**{name: value})
                score = loss(models, candidate)
                if score < best - 1e-6:
                    cal, best, improved = candidate, score, True
        if not improved:
            break
    return cal, start, best


def write_fitted(fitted: dict[str, Calibration], provenance: str) -> None:
    path = ROOT / "src" / "autotuner" / "sim" / "calibration.py"
    text = path.read_text(encoding="utf-8")
    lines = ["FITTED_PROVENANCE = (", *(f"    {part!r}" for part in textwrap.wrap(provenance, 100,
                                                                       drop_whitespace=False)), ")",
             "FITTED: dict[str, Calibration] = {"]
    for engine, cal in sorted(fitted.items()):
        values = ", ".join(f"{k}={v:.4g}" for k, v in asdict(cal).items())
        lines.append(f'    "{engine}": Calibration(')
        lines += [f"        {line}" for line in textwrap.wrap(values, 100)]
        lines.append("    ),")
    lines.append("}")
    block = "\n".join(lines)
    new = re.sub(r"FITTED_PROVENANCE = .*?\n}\n", lambda _: block + "\n", text, count=1, flags=re.S)
    path.write_text(new, encoding="utf-8")


def print_fit(label: str, cal: Calibration, before: float, after: float) -> None:
    """The fit's loss and each parameter, from the defaults to the fitted value."""
    print(f"{label}, loss {before:.3f} -> {after:.3f}")
    for name in PARAMETERS:
        print(f"  {name:22} {getattr(DEFAULT, name):10.4g} -> {getattr(cal, name):10.4g}")


def fit_provenance(script: str, data: Path, rows: str) -> str:
    """Which script fitted on which file (by digest), how many fit rows, when."""
    digest = hashlib.sha256(data.read_bytes()).hexdigest()[:12]
    return f"{script} on {data.name} (sha256 {digest}), fit rows only ({rows}), {datetime.date.today().isoformat()}"


def fit_arguments(argv: list[str] | None, description: str, data: Path, target: str) -> argparse.Namespace | None:
    """A fit script's options (``--data``, ``--rounds``, ``--dry-run``); None, after saying so, when the
    data file is absent."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", type=Path, default=data)
    ap.add_argument("--rounds", type=int, default=4, help="passes of the pattern search")
    ap.add_argument("--dry-run", action="store_true", help=f"print the fit, do not write {target}")
    args = ap.parse_args(argv)
    if not args.data.is_file():
        print(f"SKIP: {args.data} is absent (the measured runs live in ../shared/silicon/)")
        return None
    return args


def main(argv: list[str] | None = None) -> int:
    args = fit_arguments(argv, __doc__.splitlines()[1], DEFAULT_DATA, "calibration.py")
    if args is None:
        return 0
    calibration.FITTED.clear()  # rows are built with the defaults; each candidate replaces them
    rows = [r for r in read_rows(args.data) if not held_out(r)]
    fitted: dict[str, Calibration] = {}
    counts = {}
    for engine in ("sglang", "vllm"):
        models = []
        for row in (r for r in rows if r.engine == engine):
            try:
                models.append(RowModel(row))
            except (SimStartupError, ValueError):
                continue
        cal, before, after = fit(models, args.rounds)
        fitted[engine], counts[engine] = cal, len(models)
        print_fit(f"{engine}: {len(models)} fit rows", cal, before, after)
    provenance = fit_provenance("scripts/fit_twin.py", args.data, f"sglang {counts['sglang']}, vllm {counts['vllm']}")
    if not args.dry_run:
        write_fitted(fitted, provenance)
        print(f"wrote the FITTED block of src/autotuner/sim/calibration.py ({provenance})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
