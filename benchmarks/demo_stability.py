"""Is `make demo` stable on a busy machine? Runs its command 5 times in a row while another identical
run goes on beside it the whole time (a second user), and prints per run the best configuration, the
baseline's score, the best's score and the gain with its spread.

Verdict: the same best configuration every time, and the baseline's spread (max - min over mean)
within 3%.

    .venv/bin/python benchmarks/demo_stability.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT / "examples" / "quickstart.yaml"
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
MAX_BASELINE_SPREAD = 0.03


def demo_command(work: Path, name: str) -> list[str]:
    """`make demo`'s command (Makefile), on a database and output folder of its own."""
    return [sys.executable, "-m", "autotuner", "run", str(TASK), "--simulate", "h100", "--restart",
            "--db", str(work / f"{name}.db"), "--out", str(work / name)]


def run_demo(work: Path, name: str) -> dict:
    t0 = time.monotonic()
    proc = subprocess.run(demo_command(work, name), cwd=ROOT, env=ENV, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    path = work / name / "quickstart" / "results.json"
    if proc.returncode != 0 or not path.exists():
        return {"ok": False, "seconds": seconds, "why": (proc.stdout + proc.stderr).strip().splitlines()[-1:]}
    doc = json.loads(path.read_text())
    best, baseline = doc.get("best") or {}, doc.get("baseline") or {}
    gain = ((best.get("gain_over_baseline") or {}).get("output_throughput_per_gpu") or {}).get("change")
    bounds = (best.get("spread") or {}).get("gain") or {}
    return {"ok": True, "seconds": seconds, "best": "defaults" if best.get("baseline") else
            " ".join(f"{k}={v}" for k, v in sorted((best.get("parameters") or {}).items())),
            "baseline": baseline.get("score"), "score": best.get("score"), "gain": gain,
            "low": bounds.get("low"), "high": bounds.get("high"), "within_noise": best.get("within_noise"),
            "marginal": [m["metric"] for m in best.get("marginal_slos") or []]}


def _beside(work: Path, stop: threading.Event, count: list[int], current: list[subprocess.Popen]) -> None:
    while not stop.is_set():
        proc = subprocess.Popen(demo_command(work, f"beside{count[0]}"), cwd=ROOT, env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        current[:] = [proc]
        if proc.wait() == 0:
            count[0] += 1


def _pct(x: float | None) -> str:
    return "   n/a" if x is None else f"{100 * x:+5.1f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="demo-stability-") as tmp:
        work = Path(tmp)
        stop, beside_runs, current = threading.Event(), [0], []
        neighbour = threading.Thread(target=_beside, args=(work, stop, beside_runs, current), daemon=True)
        neighbour.start()
        results = []
        print(f"{'run':>3} {'wall s':>6}  {'baseline':>9} {'best':>9} {'gain':>7} {'interval':>17}  noise?  "
              f"best configuration", flush=True)
        for i in range(1, args.runs + 1):
            r = run_demo(work, f"run{i}")
            results.append(r)
            if not r["ok"]:
                print(f"{i:>3} {r['seconds']:6.0f}  failed: {r['why']}", flush=True)
                continue
            interval = f"{_pct(r['low'])}..{_pct(r['high'])}" if r["low"] is not None else "n/a"
            noise = "within" if r["within_noise"] else "no" if r["within_noise"] is False else "n/a"
            marginal = f"  (marginal: {', '.join(r['marginal'])})" if r["marginal"] else ""
            print(f"{i:>3} {r['seconds']:6.0f}  {r['baseline']:9.1f} {r['score']:9.1f} {_pct(r['gain']):>7} "
                  f"{interval:>17}  {noise:<6}  {r['best']}{marginal}", flush=True)
        stop.set()
        for proc in current:
            proc.send_signal(signal.SIGINT)  # the tuner stops its engines on the way out
        print(f"(an identical demo ran beside them the whole time: {beside_runs[0]} finished; "
              f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        neighbour.join(timeout=60)
    ok = [r for r in results if r["ok"]]
    bests = {r["best"] for r in ok}
    baselines = [r["baseline"] for r in ok if r["baseline"]]
    spread = (max(baselines) - min(baselines)) / (sum(baselines) / len(baselines)) if baselines else float("nan")
    same = len(ok) == args.runs and len(bests) == 1
    print(f"\nsame best {max((sum(r['best'] == b for r in ok) for b in bests), default=0)}/{args.runs}: "
          f"{'yes' if same else 'no'} ({len(bests)} distinct); baseline spread {100 * spread:.1f}% "
          f"(limit {100 * MAX_BASELINE_SPREAD:.0f}%): {'yes' if spread <= MAX_BASELINE_SPREAD else 'no'}")
    verdict = same and spread <= MAX_BASELINE_SPREAD
    print(f"verdict: {'STABLE' if verdict else 'NOT STABLE'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    raise SystemExit(main())
