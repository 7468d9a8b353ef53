#!/usr/bin/env python
"""Generate the simulated engine's step-time tables from aiconfigurator's measured kernel database.

    .venv/bin/pip install aiconfigurator      # the optional extra autotuner[aic]
    .venv/bin/python scripts/gen_step_tables.py [--gpus h100,l40s] [--engines sglang] [--models ...]

Writes one JSON file per (GPU, engine) to ``src/autotuner/sim/tables/`` (``--out``): a provenance
header (aiconfigurator version, its database version per engine, date, grid) and one table per
(model, TP, KV dtype, weight format) that aiconfigurator can price; combinations it has no data
for are listed under ``skipped`` with the reason. TP degrees are those the model's heads allow.
Runs offline in well under a minute on one core (most of it loading aiconfigurator's database).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from autotuner.sim import aic_live
from autotuner.hardware.models import load_model

MODELS = ["meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-70B", "Qwen/Qwen3-0.6B",
          "Qwen/Qwen3-8B", "Qwen/Qwen3-32B", "Qwen/Qwen3-30B-A3B"]
GPUS = ["h100", "h200", "a100", "l40s"]
ENGINES = ["sglang", "vllm"]
TPS = [1, 2, 4, 8]
VARIANTS = [("auto", "bf16"), ("fp8", "bf16"), ("auto", "fp8"), ("fp8", "fp8")]  # (KV dtype, weights)
OUT = Path(__file__).resolve().parents[1] / "src" / "autotuner" / "sim" / "tables"


def layouts(model: str, tps: list[int]) -> list[int]:
    """The TP degrees the model's heads allow (layouts that run out of memory are kept: the twin's
    out-of-memory failure then uses the same weight figures)."""
    spec = load_model(model)
    return [tp for tp in tps if not (spec.heads % tp or (spec.kv_heads % tp and tp % spec.kv_heads))]


def _reason(error: Exception) -> str:
    """aiconfigurator's message without the machine's paths."""
    text = str(error).split("): ", 1)[-1]
    return text.split(" at /", 1)[0][:240]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpus", default=",".join(GPUS))
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--tp", default=",".join(map(str, TPS)))
    ap.add_argument("--variants", default=",".join(f"{k}/{q}" for k, q in VARIANTS),
                    help="KV dtype/weight format pairs, e.g. auto/bf16,fp8/bf16")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if not aic_live.available():
        print("aiconfigurator is not installed: .venv/bin/pip install aiconfigurator", file=sys.stderr)
        return 2
    variants = [tuple(v.split("/")) for v in args.variants.split(",") if v]
    tps = [int(t) for t in args.tp.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    total = 0
    for gpu in args.gpus.split(","):
        for engine in args.engines.split(","):
            t0 = time.monotonic()
            tables, skipped, engine_versions = [], [], {}
            for model in args.models.split(","):
                for kv, quant in variants:
                    for tp in layouts(model, tps):
                        try:
                            table = aic_live.build_table(model, gpu, engine, tp, kv, quant)
                        except aic_live.AicUnavailable as e:
                            skipped.append({"model": model, "tp": tp, "kv_dtype": kv, "quant": quant,
                                            "reason": _reason(e)})
                            continue
                        engine_versions[engine] = table["key"]["engine_version"]
                        tables.append(table)
            path = args.out / f"{aic_live.AIC_SYSTEMS[gpu]}-{engine}.json"
            doc = {"provenance": aic_live.provenance(engine_versions), "tables": tables, "skipped": skipped}
            text = json.dumps(doc, separators=(",", ":"))
            path.write_text(text + "\n", encoding="utf-8")
            total += len(tables)
            print(f"{path.name}: {len(tables)} tables, {len(skipped)} skipped, {len(text) / 1024:.0f} KiB, "
                  f"{time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    print(f"{total} tables in {time.monotonic() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
