#!/usr/bin/env python
"""How closely the twin (``autotuner predict``) reproduces measured SGLang/vLLM runs on real GPUs.

    .venv/bin/python benchmarks/silicon_fidelity.py [--data FILE] [--json OUT] [--jobs 2] [--only SUBSTR]
    .venv/bin/python benchmarks/silicon_fidelity.py --engine trtllm   # silicon_trtllm_agg.csv on the trtllm twin

Every row of the silicon CSV (default ``../shared/silicon/silicon_sglang_vllm_agg.csv``; skipped with
a reason when absent) goes through ``autotuner.sim.predict`` with the row's engine, GPU, model,
parallel layout and weight format as the engine's own flags, at the row's concurrency and
``D(isl, osl)``. A row the twin cannot model (unknown model, a layout the engine would refuse) is
counted as not covered, with the reason. Printed per (GPU, engine, model family) and overall: rows,
rows covered, and the median and p90 relative |error| of mean TTFT, mean TPOT and output throughput,
on the held-out configurations (never used by ``scripts/fit_twin.py``) and on the fit ones.
``--json OUT`` writes {"rows", "covered", "overall": {"ttft"|"tpot"|"throughput": {"median","p90"}}}
computed on held-out rows only, plus the same for the fit rows and per group.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from autotuner.sim.engine import SimEngine  # noqa: E402
from autotuner.sim.errors import SimStartupError  # noqa: E402
from autotuner.sim.predict import engine_argv  # noqa: E402
from autotuner.sim.silicon import (SiliconRow, held_out, predict_row, quantile, read_rows, relative_errors,  # noqa: E402
                                   row_flags)

SILICON_CSV = Path("silicon") / "silicon_sglang_vllm_agg.csv"
# ../shared beside the checkout (a worktree under wt/ finds the one beside its main checkout)
DEFAULT_DATA = next((p / "shared" / SILICON_CSV for p in (ROOT.parent, ROOT.parent.parent)
                     if (p / "shared" / SILICON_CSV).is_file()), ROOT.parent / "shared" / SILICON_CSV)
METRICS = ("ttft", "tpot", "throughput")
TRTLLM_CSV = DEFAULT_DATA.parent / "silicon_trtllm_agg.csv"


def evaluate(row: SiliconRow, replay: bool = True, predictor=predict_row) -> tuple[dict | None, str | None]:
    try:
        if not replay and predictor is predict_row:  # coverage only: would the engine start?
            SimEngine.from_argv(engine_argv(row.engine, row.gpu, row.model, row_flags(row)))
            return {}, None
        p = predictor(row)
    except (SimStartupError, ValueError) as e:
        return None, str(e).strip().splitlines()[-1][:140]
    if p.metrics.get("success_rate", 0) < 1.0:
        return None, "the twin's engine rejected some requests"
    return relative_errors(row, p), None


def evaluate_trtllm(row: SiliconRow, replay: bool = True) -> tuple[dict | None, str | None]:
    """``evaluate`` for a TensorRT-LLM row, on the trtllm personality."""
    from autotuner.sim.silicon_trtllm import predict_trtllm_row, trtllm_row_flags
    if not replay:  # coverage only: would the engine start?
        try:
            SimEngine.from_argv(engine_argv("trtllm", row.gpu, row.model, trtllm_row_flags(row)))
        except (SimStartupError, ValueError) as e:
            return None, str(e).strip().splitlines()[-1][:140]
        return {}, None
    return evaluate(row, True, predict_trtllm_row)


def stats(errors: list[dict]) -> dict:
    return {m: {"median": quantile([e[m] for e in errors], 0.5), "p90": quantile([e[m] for e in errors], 0.9),
                "bias": quantile([e[f"{m}_signed"] for e in errors], 0.5)} for m in METRICS}


def _pct(x: float) -> str:
    return "   -  " if x != x else f"{100 * x:5.1f}%"


def print_table(title: str, groups: dict[tuple, list], covered: dict[tuple, list], covered_rows: Counter) -> None:
    print(f"\n{title}")
    head = f"{'GPU':9} {'engine':6} {'family':18} {'rows':>4} {'cov':>4} {'held':>4} | " + " | ".join(
        f"{m:^21}" for m in METRICS)
    print(head)
    print(f"{'':46}| " + " | ".join(f"{'med':>6} {'p90':>6} {'bias':>6}" for _ in METRICS))
    print("-" * len(head))
    for key in sorted(groups):
        rows, errs = groups[key], covered.get(key, [])
        held = [e for e in errs if e["held_out"]]
        s = stats(held)
        cells = " | ".join(f"{_pct(s[m]['median'])} {_pct(s[m]['p90'])} {_pct(s[m]['bias'])}" for m in METRICS)
        print(f"{key[0]:9} {key[1]:6} {key[2]:18} {len(rows):4} {covered_rows[key]:4} {len(held):4} | {cells}")


def _finite(x):
    """NaN (no rows) as null, so the file is strict JSON."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    return None if isinstance(x, float) and x != x else x


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a CSV with the silicon file's columns")
    ap.add_argument("--json", type=Path, help="write the summary here")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--only", default="", help="only rows whose id contains this")
    ap.add_argument("--held-out-only", action="store_true",
                    help="replay only held-out rows (fit rows are checked for coverage only): quicker")
    ap.add_argument("--engine", choices=("sglang-vllm", "trtllm"), default="sglang-vllm",
                    help="trtllm: the TensorRT-LLM file (default data silicon_trtllm_agg.csv) on the trtllm twin")
    args = ap.parse_args(argv)
    if args.engine == "trtllm" and args.data == DEFAULT_DATA:
        args.data = TRTLLM_CSV
    score = evaluate_trtllm if args.engine == "trtllm" else evaluate
    if not args.data.is_file():
        print(f"SKIP: {args.data} is absent (the measured runs live in ../shared/silicon/)")
        return 0
    rows = [r for r in read_rows(args.data) if args.only in r.id]
    t0 = time.perf_counter()
    replay = [held_out(r) or not args.held_out_only for r in rows]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = (list(pool.map(score, rows, replay, chunksize=2)) if args.jobs > 1
                   else [score(r, x) for r, x in zip(rows, replay)])
    elapsed = time.perf_counter() - t0
    groups, covered, covered_rows = defaultdict(list), defaultdict(list), Counter()
    reasons: Counter = Counter()
    all_errors = []
    for row, (err, why) in zip(rows, results):
        key = (row.gpu.replace("_sxm", ""), row.engine, row.family)
        groups[key].append(row)
        if err is None:
            reasons[f"{row.family}: {why}"] += 1
            continue
        covered_rows[key] += 1
        if not err:
            continue
        err = {**err, "held_out": held_out(row), "id": row.id}
        covered[key].append(err)
        all_errors.append(err)
    held = [e for e in all_errors if e["held_out"]]
    fit = [e for e in all_errors if not e["held_out"]]
    print_table("held-out configurations: relative |error| median / p90, signed median (bias: + = twin higher)",
                groups, covered, covered_rows)
    n_covered = sum(covered_rows.values())
    print(f"\nrows {len(rows)}, covered {n_covered} ({100 * n_covered / max(len(rows), 1):.1f}%), "
          f"held-out rows {len(held)}, fit rows {len(fit)}; {elapsed:.0f} s")
    for name, errs in (("held-out", held), ("fit", fit), ("all", all_errors)):
        s = stats(errs)
        print(f"overall {name:8} ({len(errs):4} rows): " + "  ".join(
            f"{m} med {_pct(s[m]['median'])} p90 {_pct(s[m]['p90'])} bias {_pct(s[m]['bias'])}" for m in METRICS))
    if reasons:
        print("\nnot covered:")
        for why, n in reasons.most_common():
            print(f"  {n:4}  {why}")
    if args.json:
        doc = {"rows": len(rows), "covered": n_covered, "held_out_rows": len(held), "fit_rows": len(fit),
               "overall": {m: {k: v for k, v in s.items() if k != "bias"} for m, s in stats(held).items()},
               "fit": stats(fit), "not_covered": dict(reasons),
               "groups": {"/".join(k): {"rows": len(groups[k]), "covered": covered_rows[k],
                                        "held_out": stats([e for e in covered.get(k, []) if e["held_out"]])}
                          for k in sorted(groups)}}
        args.json.write_text(json.dumps(_finite(doc), indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
