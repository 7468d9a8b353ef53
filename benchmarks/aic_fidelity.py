#!/usr/bin/env python
"""aiconfigurator's own estimate of the measured runs, side by side with the twin's, on the rows it covers.

    bash scripts/install_aic.sh          # once: aiconfigurator in .venv-aic (kept out of .venv)
    .venv/bin/python benchmarks/aic_fidelity.py [--data FILE] [--trtllm-data FILE] [--json OUT]
                                                [--aic-python .venv-aic/bin/python] [--jobs 1] [--only SUBSTR]
                                                [--held-out-only] [--aic-answers FILE]

Every row of the silicon files (SGLang/vLLM, and TensorRT-LLM: aiconfigurator covers all three) is
handed to aiconfigurator's ``cli_estimate`` (aggregated serving, the row's backend, GPU system,
model, weight formats, TP / attention-DP / MoE-TP / MoE-EP, ISL/OSL, concurrency) by
``benchmarks/aic_worker.py`` in the aic venv: one subprocess, JSON over stdin/stdout, all rows in one
call. Its database holds one engine version per backend (the newest it measured), never the row's,
so that version answers; the table names it. Rows it cannot estimate are counted with the reason.
The twin answers the same rows through ``silicon_fidelity.evaluate`` (the helpers of
``benchmarks/silicon_fidelity.py``, unchanged). Output throughput is ``users * osl / (ttft + (osl - 1)
* tpot)`` for the measurement and for both estimates, as in silicon_fidelity.py.

Printed per (GPU, engine, model family) and overall, on the rows both cover: median and p90 relative
|error| of TTFT, TPOT and output throughput, aiconfigurator's next to ours, for the held-out
configurations and for all rows (``--held-out-only``: held-out rows only, on both sides: quicker).
``--aic-answers FILE`` keeps aiconfigurator's answers by row id and reuses them on the next run (the
twin changes; aiconfigurator does not). ``--json OUT`` writes the same numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(BENCH))

from silicon_fidelity import DEFAULT_DATA, METRICS, TRTLLM_CSV, evaluate, evaluate_trtllm  # noqa: E402

from autotuner.jsonsafe import json_safe  # noqa: E402
from autotuner.sim.silicon import SiliconRow, held_out, output_throughput, quantile, read_rows  # noqa: E402

DEFAULT_AIC_PYTHON = ROOT / ".venv-aic" / "bin" / "python"
WORKER = BENCH / "aic_worker.py"
# silicon model ids aiconfigurator does not bundle -> the bundled config of the same architecture
# (the weight format travels in the quant modes, so an FP8/NVFP4 repackaging maps to its base model)
AIC_MODEL_IDS = {
    "meta-llama/Llama-3.1-8B-Instruct": "meta-llama/Meta-Llama-3.1-8B",
    "nvidia/Llama-3.1-8B-Instruct-FP8": "meta-llama/Meta-Llama-3.1-8B",
    "meta-llama/Llama-3.1-70B": "meta-llama/Meta-Llama-3.1-70B",
    "zhipuai/GLM-5": "zai-org/GLM-5",
    "nvidia/DeepSeek-R1-NVFP4": "deepseek-ai/DeepSeek-R1",
    "nvidia/Qwen3-32B-NVFP4": "Qwen/Qwen3-32B",
}
SPLITS = ("held_out", "all")
WORKER_STOPPED = "the aic worker stopped"


HOPPER = ("h100_sxm", "h200_sxm")


def quant_modes(row: SiliconRow) -> tuple[str | None, str | None]:
    """The row's (GEMM, MoE) weight formats as aiconfigurator names them; None = the checkpoint's own.

    gpt-oss ships MXFP4 experts; the file labels its Hopper runs ``nvfp4``, which Hopper cannot compute
    (aiconfigurator would look for NVFP4 weight-only GEMMs it never measured): there the experts run
    MXFP4 weight-only, the rest in the checkpoint's BF16.
    """
    if row.family == "gpt-oss-120b" and row.gpu in HOPPER and "fp4" in (row.gemm_quant + row.moe_quant):
        return None, "w4a16_mxfp4"
    return row.gemm_quant or None, row.moe_quant or None


def aic_request(row: SiliconRow) -> dict:
    """The row's configuration as aiconfigurator's ``cli_estimate`` arguments (see aic_worker.py)."""
    gemm, moe = quant_modes(row)
    return {"id": row.id, "model_path": AIC_MODEL_IDS.get(row.model, row.model), "system": row.gpu,
            "backend": row.engine, "backend_version": None, "isl": row.isl, "osl": row.osl,
            "batch_size": row.users, "tp_size": row.tp, "attention_dp_size": row.attention_dp,
            "moe_tp_size": row.moe_tp, "moe_ep_size": row.moe_ep,
            "gemm_quant_mode": gemm, "moe_quant_mode": moe}


def errors_of(row: SiliconRow, ttft_s: float, tpot_s: float) -> dict[str, float]:
    """Relative |error| (0.1 = 10%) of an estimate's TTFT, TPOT and output throughput against the row."""
    estimate = {"ttft": ttft_s, "tpot": tpot_s, "throughput": output_throughput(row.users, row.osl, ttft_s, tpot_s)}
    truth = {"ttft": row.ttft_s, "tpot": row.tpot_s, "throughput": row.throughput}
    return {m: abs(estimate[m] - truth[m]) / truth[m] for m in METRICS}


def aic_errors(row: SiliconRow, answer: dict) -> tuple[dict | None, str | None]:
    if "error" in answer:
        return None, answer["error"]
    ttft, tpot = answer.get("ttft_ms", 0.0) / 1000, answer.get("tpot_ms", 0.0) / 1000
    if not (ttft > 0 and tpot > 0):
        return None, "aiconfigurator returned no latency (the batch does not fit its memory model)"
    return errors_of(row, ttft, tpot), None


def group_key(row: SiliconRow) -> tuple[str, str, str]:
    return row.gpu.replace("_sxm", ""), row.engine, row.family


def summarise(rows: list[SiliconRow], aic: list[dict | None], ours: list[dict | None]) -> dict:
    """Median/p90 |error| of both estimates per group and overall, on the rows both cover."""
    pairs: dict[tuple, dict[str, list]] = defaultdict(lambda: {s: [] for s in SPLITS})
    counts: dict[tuple, Counter] = defaultdict(lambda: Counter(rows=0, aic=0, ours=0, both=0))
    for row, a, o in zip(rows, aic, ours):
        for key in (group_key(row), ("overall",)):
            counts[key]["rows"] += 1
            counts[key]["aic"] += a is not None
            counts[key]["ours"] += bool(o)
            if a is None or not o:
                continue
            counts[key]["both"] += 1
            for split in SPLITS:
                if split == "all" or held_out(row):
                    pairs[key][split].append((a, o))

    def stats(found: list[tuple]) -> dict:
        return {who: {m: {"median": quantile([p[i][m] for p in found], 0.5),
                          "p90": quantile([p[i][m] for p in found], 0.9)} for m in METRICS}
                for i, who in enumerate(("aic", "ours"))} | {"rows": len(found)}

    return {key: {**dict(counts[key]), **{s: stats(pairs[key][s]) for s in SPLITS}} for key in counts}


def _pct(x: float | None) -> str:
    return "    - " if x is None or x != x else f"{100 * x:5.0f}%"


def table(summary: dict, split: str) -> list[str]:
    head = (f"{'GPU':6} {'engine':6} {'family':17} {'rows':>4} {'aic':>4} {'both':>4} {'n':>4} | "
            + " | ".join(f"{m:^27}" for m in METRICS))
    sub = f"{'':49}| " + " | ".join(f"{'aic med':>7} {'p90':>5}  {'ours med':>8} {'p90':>4}" for _ in METRICS)
    lines = [head, sub, "-" * len(head)]
    for key in sorted(k for k in summary if k != ("overall",)) + [("overall",)]:
        s = summary[key]
        label = f"{key[0]:6} {key[1]:6} {key[2]:17}" if len(key) == 3 else f"{'overall':31}"
        cells = " | ".join(f"{_pct(s[split]['aic'][m]['median']):>7} {_pct(s[split]['aic'][m]['p90']):>5}  "
                           f"{_pct(s[split]['ours'][m]['median']):>8} {_pct(s[split]['ours'][m]['p90']):>4}"
                           for m in METRICS)
        lines.append(f"{label} {s.get('rows', 0):4} {s.get('aic', 0):4} {s.get('both', 0):4} "
                     f"{s[split]['rows']:4} | {cells}")
    return lines


def ask_aic(python: Path, requests: list[dict], jobs: int = 1) -> list[dict]:
    """aiconfigurator's answers, in the order of ``requests``: ``jobs`` worker processes, one call each.

    Requests are sorted by (system, backend, model) so each worker loads each database once.
    """
    order = sorted(range(len(requests)), key=lambda i: (requests[i]["system"], requests[i]["backend"],
                                                        requests[i]["model_path"]))
    chunks = [order[k::max(1, jobs)] for k in range(max(1, jobs))] if jobs > 1 else [order]
    answers: dict[int, dict] = {}

    def run(chunk: list[int]) -> None:
        batch = [requests[i] for i in chunk]
        done = subprocess.run([str(python), str(WORKER)], input=json.dumps(batch), capture_output=True, text=True)
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        why = (done.stderr.strip().splitlines() or ["no output"])[-1][:160]
        for i, request in zip(chunk, batch):
            answers[i] = {"id": request["id"], "error": f"{WORKER_STOPPED} ({done.returncode}): {why}"}
        for i, line in zip(chunk, lines):
            answers[i] = line

    threads = [threading.Thread(target=run, args=(c,)) for c in chunks if c]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [answers[i] for i in range(len(requests))]


def aic_version(python: Path) -> str:
    done = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('aiconfigurator'))"],
                          capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def _ours(row: SiliconRow) -> tuple[dict | None, str | None]:
    return (evaluate_trtllm if row.engine == "trtllm" else evaluate)(row)


def cached_answers(path: Path | None, python: Path, rows: list[SiliconRow], jobs: int) -> list[dict]:
    """aiconfigurator's answers for ``rows``: those in ``path`` (by row id) and, asked now, the others."""
    known: dict[str, dict] = {}
    if path is not None and path.is_file():
        known = {a["id"]: a for a in json.loads(path.read_text(encoding="utf-8"))}
    missing = [r for r in rows if r.id not in known]
    if missing:
        for answer in ask_aic(python, [aic_request(r) for r in missing], jobs):
            known[answer["id"]] = answer
        if path is not None:  # a dead worker's placeholder is not an answer to keep
            kept = [a for a in known.values() if not a.get("error", "").startswith(WORKER_STOPPED)]
            path.write_text(json.dumps(kept), encoding="utf-8")
    return [known[r.id] for r in rows]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SGLang/vLLM rows (the silicon file's columns)")
    ap.add_argument("--trtllm-data", type=Path, default=TRTLLM_CSV, help="TensorRT-LLM rows ('' to leave out)")
    ap.add_argument("--json", type=Path, help="write the summary here")
    ap.add_argument("--aic-python", type=Path, default=DEFAULT_AIC_PYTHON, help="python of the aic venv")
    ap.add_argument("--jobs", type=int, default=1, help="processes for each side (ours and aiconfigurator's)")
    ap.add_argument("--only", default="", help="only rows whose id contains this")
    ap.add_argument("--held-out-only", action="store_true", help="held-out rows only (both sides)")
    ap.add_argument("--aic-answers", type=Path, help="reuse/keep aiconfigurator's answers in this JSON file")
    args = ap.parse_args(argv)
    if not args.data.is_file():
        print(f"SKIP: {args.data} is absent (the measured runs live in ../shared/silicon/)")
        return 0
    if not args.aic_python.is_file():
        print(f"SKIP: {args.aic_python} is absent (run: bash scripts/install_aic.sh)")
        return 0
    files = [args.data] + ([args.trtllm_data] if str(args.trtllm_data) not in ("", ".")
                           and args.trtllm_data.is_file() else [])
    rows = [r for f in files for r in read_rows(f) if args.only in r.id and (held_out(r) or not args.held_out_only)]
    t0 = time.perf_counter()
    answers: list[dict] = []
    worker = threading.Thread(target=lambda: answers.extend(
        cached_answers(args.aic_answers, args.aic_python, rows, args.jobs)))
    worker.start()  # aiconfigurator answers while the twin replays the rows
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        ours = [err for err, _ in pool.map(_ours, rows, chunksize=4)]
    t_ours = time.perf_counter() - t0
    worker.join()
    t_all = time.perf_counter() - t0
    aic, reasons, versions = [], Counter(), Counter()
    for row, answer in zip(rows, answers):
        err, why = aic_errors(row, answer)
        aic.append(err)
        if err is None:
            reasons[f"{row.engine} {row.family}: {why}"] += 1
        else:
            versions[f"{row.engine} {answer.get('backend_version')}"] += 1
    summary = summarise(rows, aic, ours)
    version = aic_version(args.aic_python)
    overall = summary.get(("overall",), {})
    print(f"aiconfigurator {version} (database versions used: "
          f"{', '.join(f'{v} ({n} rows)' for v, n in sorted(versions.items()))}) vs the twin; "
          f"relative |error| median / p90 on rows both cover")
    for split, title in (("held_out", "held-out configurations"), ("all", "all rows")):
        if split == "all" and args.held_out_only:
            continue  # the twin replayed held-out rows only
        print(f"\n{title}:")
        print("\n".join(table(summary, split)))
    print(f"\n{'held-out ' if args.held_out_only else ''}rows {overall.get('rows', 0)}: "
          f"aiconfigurator covers {overall.get('aic', 0)}, the twin "
          f"{overall.get('ours', 0)}, both {overall.get('both', 0)}; twin {t_ours:.0f} s, all {t_all:.0f} s")
    if reasons:
        print("\nnot covered by aiconfigurator:")
        for why, n in reasons.most_common():
            print(f"  {n:4}  {why}")
    if args.json:
        doc = {"aiconfigurator": version, "database_versions": dict(versions), "rows": overall.get("rows", 0),
               "aic_covered": overall.get("aic", 0), "ours_covered": overall.get("ours", 0),
               "both_covered": overall.get("both", 0), "aic_not_covered": dict(reasons),
               "overall": {s: overall.get(s) for s in SPLITS},
               "groups": {"/".join(k): v for k, v in summary.items() if k != ("overall",)}}
        args.json.write_text(json.dumps(json_safe(doc), indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
