#!/usr/bin/env python
"""Fit the trtllm twin's calibration on the fit rows of the TensorRT-LLM silicon file.

    .venv/bin/python scripts/fit_twin_trtllm.py [--data FILE] [--rounds 4] [--dry-run]

Only rows whose configuration is not held out (``autotuner.sim.silicon.held_out``) are used, so
``benchmarks/silicon_fidelity.py --engine trtllm`` reports the error on configurations never fitted.
Each row is the trtllm personality's engine for the row's flags (``silicon_trtllm.trtllm_row_flags``),
estimated in steady state as ``scripts/fit_twin.py`` does (its ``RowModel`` estimate and ``loss``,
imported), with TensorRT-LLM's in-flight batching: contexts share an iteration with the generation
requests, in chunks of ``max_num_tokens``. The pattern search is that script's, with wider bounds for
the front end: the measured first tokens of ``trtllm-serve`` carry a floor of about 0.1-0.2 s even for
short prompts at low load (its OpenAI layer, tokenizing and hand-off to the executor run in Python
before the first iteration), which the twin plays as a per-request delay. The result is written into
``src/autotuner/sim/calibration_trtllm.py`` (the FITTED block) with its provenance.
"""

from __future__ import annotations

import re
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

import fit_twin  # noqa: E402  (its steady-state row estimate and loss)
from autotuner.sim import calibration_trtllm  # noqa: E402
from autotuner.sim.calibration import Calibration  # noqa: E402
from autotuner.sim.engine import SimEngine  # noqa: E402
from autotuner.sim.errors import SimStartupError  # noqa: E402
from autotuner.sim.predict import engine_argv  # noqa: E402
from autotuner.sim.silicon import SiliconRow, held_out, read_rows  # noqa: E402
from autotuner.sim.silicon_trtllm import trtllm_row_flags  # noqa: E402

CSV = Path("silicon") / "silicon_trtllm_agg.csv"
DEFAULT_DATA = next((p / "shared" / CSV for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared" / CSV).is_file()),
                    ROOT.parent / "shared" / CSV)
# fit_twin's bounds, but the front end may cost what a Python OpenAI server in front of the executor costs
BOUNDS = {**fit_twin.BOUNDS, "request_overhead_s": (0.0, 250e-3), "tokenize_per_token_s": (0.0, 20e-6),
          "prefill_step_s": (0.0, 20e-3)}
STARTS = {**fit_twin.STARTS, "request_overhead_s": 10e-3}


class TRTLLMRowModel(fit_twin.RowModel):
    """``fit_twin.RowModel`` for a TensorRT-LLM row: the trtllm engine, contexts mixed into iterations."""

    def __init__(self, row: SiliconRow):  # noqa: D107  (the parent builds its engine from SGLang/vLLM flags)
        self.row = row
        self.engine = SimEngine.from_argv(engine_argv("trtllm", row.gpu, row.model, trtllm_row_flags(row)))
        self.base_cost = self.engine.cost
        cfg = self.engine.config
        self.wanted = max(1, min(-(-row.users // len(self.engine.replicas)), cfg.max_running or row.users))
        self.batch = max(1, min(self.wanted, self.engine.memory.kv_tokens // max(1, row.isl + row.osl)))
        self.budget = cfg.max_batched_tokens if cfg.chunked_prefill else row.isl
        self.mixed = True  # in-flight batching: a context runs in the same iteration as the generations
        self.graph = cfg.cuda_graph and self.batch <= (cfg.cuda_graph_max_bs or 0)

    def predict(self, cal: Calibration) -> tuple[float, float]:
        """The parent's estimate with the front end as the twin plays it: a delay of every request, not a queue."""
        ttft, tpot = super().predict(cal.with_values(request_overhead_s=0.0, tokenize_per_token_s=0.0))
        return ttft + cal.request_overhead_s + cal.tokenize_per_token_s * self.row.isl, tpot


def fit(models: list[TRTLLMRowModel], rounds: int) -> tuple[Calibration, float, float]:
    """``fit_twin.fit`` (its pattern search reads its module's ``BOUNDS``/``STARTS``) with this script's."""
    saved = fit_twin.BOUNDS, fit_twin.STARTS
    fit_twin.BOUNDS, fit_twin.STARTS = BOUNDS, STARTS
    try:
        return fit_twin.fit(models, rounds)
    finally:
        fit_twin.BOUNDS, fit_twin.STARTS = saved


def write_fitted(cal: Calibration, provenance: str) -> None:
    path = ROOT / "src" / "autotuner" / "sim" / "calibration_trtllm.py"
    values = ", ".join(f"{k}={v:.4g}" for k, v in asdict(cal).items())
    block = "\n".join(["FITTED_PROVENANCE = (", *(f"    {part!r}" for part in textwrap.wrap(
        provenance, 100, drop_whitespace=False)), ")", "FITTED: dict[str, float] | None = dict(",
        *(f"    {line}" for line in textwrap.wrap(values, 100)), ")"])
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"FITTED_PROVENANCE = .*\Z", lambda _: block + "\n", text, count=1, flags=re.S),
                    encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = fit_twin.fit_arguments(argv, __doc__.splitlines()[1], DEFAULT_DATA, "calibration_trtllm.py")
    if args is None:
        return 0
    calibration_trtllm.FITTED = None  # rows are built with the defaults; each candidate replaces them
    models, skipped = [], 0
    for row in (r for r in read_rows(args.data) if not held_out(r)):
        try:
            models.append(TRTLLMRowModel(row))
        except (SimStartupError, ValueError):
            skipped += 1
    cal, before, after = fit(models, args.rounds)
    fit_twin.print_fit(f"trtllm: {len(models)} fit rows ({skipped} the twin cannot start)", cal, before, after)
    provenance = fit_twin.fit_provenance("scripts/fit_twin_trtllm.py", args.data, str(len(models)))
    if not args.dry_run:
        write_fitted(cal, provenance)
        print(f"wrote the FITTED block of src/autotuner/sim/calibration_trtllm.py ({provenance})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
