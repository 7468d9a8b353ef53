#!/usr/bin/env python
"""How closely the simulated engine (the digital twin) reproduces aiconfigurator's estimates.

    .venv/bin/pip install aiconfigurator
    .venv/bin/python benchmarks/sim_fidelity.py [--virtual] [--points 6] [--json out.json]

For each point (model, GPU, engine, TP, batch, ISL, OSL) the twin is started as a real-time HTTP
server (``python -m autotuner.sim`` with the engine's own flags) and driven by our benchmark at a
fixed concurrency = batch with ``D(ISL,OSL)`` requests (two waves of ``batch``); its mean TTFT and
TPOT are set beside aiconfigurator's static-batching estimate of the same point and the relative
error is printed, then the medians. For comparison the last columns give the error of the roofline
cost model (the twin without tables, in virtual time). ``--virtual`` replays the benchmark in virtual
time instead of the real-time run.

The twin runs in the regime aiconfigurator's static estimate describes: a wave of ``batch`` prompts
prefilled in one step (the prefill budget, ``--chunked-prefill-size``/``--max-prefill-tokens`` or
``--max-num-batched-tokens``, is raised to ``batch x ISL`` when the default is smaller) and
``--stream-interval 8`` (fewer SSE chunks, so a 2-core machine keeps real time; TTFT and TPOT are
unaffected: the first token is always sent at once). Until ``sim/engine.py`` picks the cost model
itself, the server is started through this script's ``--serve`` shim, which passes the table model.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import io
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass

from autotuner.bench.runner import benchmark
from autotuner.sim import aic_live
from autotuner.sim.costmodel import RooflineCostModel
from autotuner.sim.engine import SimEngine
from autotuner.hardware.gpus import get_gpu
from autotuner.hardware.models import load_model
from autotuner.sim.table_model import select_cost_model
from autotuner.sim.virtual import simulate_benchmark
from autotuner.spec.workload import Workload

GOAL_TPOT, GOAL_TTFT = 0.10, 0.15
STREAM_INTERVAL = 8


@dataclass
class Point:
    model: str
    gpu: str
    engine: str
    tp: int
    batch: int
    isl: int
    osl: int


POINTS = [
    Point("Qwen/Qwen3-8B", "h100", "sglang", 1, 8, 1024, 256),
    Point("Qwen/Qwen3-8B", "h100", "vllm", 1, 32, 1024, 128),
    Point("meta-llama/Llama-3.1-8B", "h200", "sglang", 1, 16, 2048, 128),
    Point("meta-llama/Llama-3.1-8B", "a100", "vllm", 1, 4, 512, 256),
    Point("meta-llama/Llama-3.1-70B", "h100", "sglang", 4, 16, 1024, 128),
    Point("meta-llama/Llama-3.1-70B", "h200", "vllm", 2, 8, 2048, 128),
    Point("Qwen/Qwen3-32B", "h100", "vllm", 2, 16, 1024, 128),
    Point("Qwen/Qwen3-32B", "l40s", "sglang", 4, 8, 512, 128),
    Point("Qwen/Qwen3-30B-A3B", "h100", "sglang", 1, 16, 1024, 128),
    Point("Qwen/Qwen3-30B-A3B", "h200", "vllm", 2, 16, 2048, 128),
    Point("meta-llama/Llama-3.2-1B", "h100", "vllm", 1, 4, 512, 128),
    Point("Qwen/Qwen3-8B", "l40s", "vllm", 1, 16, 1024, 128),
    Point("meta-llama/Llama-3.1-8B", "h100", "sglang", 2, 32, 512, 64),
    Point("Qwen/Qwen3-32B", "a100", "sglang", 2, 8, 1024, 128),
]


def engine_argv(p: Point) -> list[str]:
    budget = p.batch * p.isl
    if p.engine == "sglang":
        flags = ["--model-path", p.model, "--tp-size", str(p.tp)]
        if budget > 8192:
            flags += ["--chunked-prefill-size", str(budget), "--max-prefill-tokens", str(budget)]
    else:
        flags = ["--model", p.model, "--tensor-parallel-size", str(p.tp)]
        if budget > 8192:
            flags += ["--max-num-batched-tokens", str(budget)]
    return ["--personality", p.engine, "--gpu", p.gpu, "--seed", "0", "--startup-seconds", "0",
            "--stream-interval", str(STREAM_INTERVAL)] + flags


def twin_engine(argv: list[str]) -> tuple[SimEngine, str]:
    """The twin with the most faithful cost model, and the note saying which one it is."""
    from autotuner.sim.config import parse_engine_args

    cfg = parse_engine_args(argv)
    cost, note = select_cost_model(cfg.model, cfg.gpu, cfg.personality, cfg.tp, cfg.kv_cache_dtype,
                                   cfg.quantization, pp=cfg.pp, dtype=cfg.dtype)
    return SimEngine.from_argv(argv, cost_model=cost), note


def serve(argv: list[str]) -> int:
    """``python -m autotuner.sim`` with the table cost model passed in (until engine.py selects it)."""
    from autotuner.sim.cli import log
    from autotuner.sim.cli import serve as serve_engine

    engine, note = twin_engine(argv)
    log(engine.config.personality, note)
    for line in engine.startup_lines():
        log(engine.config.personality, line)
    return asyncio.run(serve_engine(engine))


def _engine_selects_tables() -> bool:
    return "select_cost_model" in inspect.getsource(SimEngine.from_argv)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the twin exited with {proc.returncode}: {proc.stderr.read()[-800:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the twin did not become healthy in time")


def workload(p: Point) -> Workload:
    return Workload(scenarios=[f"D({p.isl},{p.osl})"], concurrency=[p.batch], num_requests=2 * p.batch)


def twin_real_time(p: Point) -> tuple[dict, str]:
    port = _free_port()
    argv = engine_argv(p) + ["--host", "127.0.0.1", "--port", str(port)]
    if _engine_selects_tables():
        cmd = [sys.executable, "-m", "autotuner.sim", *argv]
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--serve", *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, proc)
        result = benchmark(url, p.model, workload(p), num_gpus=p.tp)
    finally:
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    note = next((line.split("] ", 1)[-1] for line in (out + err).splitlines() if "step times:" in line), "?")
    return result.levels[0].metrics, note


def twin_virtual(p: Point) -> tuple[dict, str]:
    argv = engine_argv(p)
    engine, note = twin_engine(argv)
    return simulate_benchmark(argv, workload(p), engine=engine).levels[0].metrics, note


def roofline_virtual(p: Point) -> dict:
    argv = engine_argv(p)
    cost = RooflineCostModel(load_model(p.model), get_gpu(p.gpu), p.tp)
    engine = SimEngine.from_argv(argv, cost_model=cost)
    return simulate_benchmark(argv, workload(p), engine=engine).levels[0].metrics


def aic_estimate(p: Point) -> tuple[float, float]:
    """aiconfigurator's static-batching TTFT and TPOT, in seconds."""
    from aiconfigurator.cli.api import cli_estimate

    moe = load_model(p.model).is_moe
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            r = cli_estimate(aic_live.aic_model_path(p.model), aic_live.AIC_SYSTEMS[p.gpu], mode="static",
                             backend_name=p.engine, isl=p.isl, osl=p.osl, batch_size=p.batch, tp_size=p.tp,
                             moe_tp_size=p.tp if moe else None, moe_ep_size=1 if moe else None)
    finally:
        logging.disable(logging.NOTSET)
    return r.ttft / 1000, r.tpot / 1000


def _err(twin: float, ref: float) -> float:
    return twin / ref - 1.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--virtual", action="store_true", help="replay in virtual time instead of a real-time HTTP run")
    ap.add_argument("--points", type=int, default=len(POINTS), help="run the first N points")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args(argv)
    if not aic_live.available():
        print("aiconfigurator is not installed (.venv/bin/pip install aiconfigurator): "
              "its estimates are the reference column", file=sys.stderr)
        return 2
    mode = "virtual time" if args.virtual else "real-time HTTP"
    print(f"twin: {mode}, closed loop at concurrency = batch, 2 x batch requests; "
          f"reference: aiconfigurator {aic_live.versions().get('aiconfigurator', '?')} static estimate")
    head = (f"{'model':26} {'gpu':5} {'engine':6} {'tp':>2} {'bs':>3} {'isl':>5} {'osl':>4} | "
            f"{'TTFT twin':>9} {'aic':>8} {'err':>6} | {'TPOT twin':>9} {'aic':>7} {'err':>6} | {'source':21} | "
            f"roofline err TTFT   TPOT")
    print(head)
    print("-" * len(head))
    rows = []
    started = time.monotonic()
    for p in POINTS[: args.points]:
        ref_ttft, ref_tpot = aic_estimate(p)
        metrics, note = twin_virtual(p) if args.virtual else twin_real_time(p)
        ttft, tpot = metrics["ttft_mean"], metrics["tpot_mean"]
        roof = roofline_virtual(p)
        row = {**asdict(p), "twin_ttft_ms": ttft * 1e3, "aic_ttft_ms": ref_ttft * 1e3,
               "ttft_err": _err(ttft, ref_ttft), "twin_tpot_ms": tpot * 1e3, "aic_tpot_ms": ref_tpot * 1e3,
               "tpot_err": _err(tpot, ref_tpot), "errors": metrics.get("num_errors", 0), "source": note,
               "roofline_ttft_err": _err(roof["ttft_mean"], ref_ttft),
               "roofline_tpot_err": _err(roof["tpot_mean"], ref_tpot)}
        rows.append(row)
        source = note.replace("step times: ", "").split(" (")[0]
        print(f"{p.model[:26]:26} {p.gpu:5} {p.engine:6} {p.tp:>2} {p.batch:>3} {p.isl:>5} {p.osl:>4} | "
              f"{row['twin_ttft_ms']:>7.1f}ms {row['aic_ttft_ms']:>6.1f}ms {row['ttft_err']:>+6.1%} | "
              f"{row['twin_tpot_ms']:>7.2f}ms {row['aic_tpot_ms']:>5.2f}ms {row['tpot_err']:>+6.1%} | "
              f"{source:21} | {row['roofline_ttft_err']:>+16.1%} {row['roofline_tpot_err']:>+6.1%}", flush=True)
    med_ttft = statistics.median(abs(r["ttft_err"]) for r in rows)
    med_tpot = statistics.median(abs(r["tpot_err"]) for r in rows)
    roof_ttft = statistics.median(abs(r["roofline_ttft_err"]) for r in rows)
    roof_tpot = statistics.median(abs(r["roofline_tpot_err"]) for r in rows)
    print("-" * len(head))
    print(f"median |error|: TTFT {med_ttft:.1%} (goal <= {GOAL_TTFT:.0%}), TPOT {med_tpot:.1%} "
          f"(goal <= {GOAL_TPOT:.0%}); roofline model: TTFT {roof_ttft:.1%}, TPOT {roof_tpot:.1%}; "
          f"{len(rows)} points in {time.monotonic() - started:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"mode": mode, "rows": rows, "median_ttft_err": med_ttft, "median_tpot_err": med_tpot}, f,
                      indent=1)
    return 0 if med_ttft <= GOAL_TTFT and med_tpot <= GOAL_TPOT else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        sys.exit(serve(sys.argv[2:]))
    sys.exit(main())
