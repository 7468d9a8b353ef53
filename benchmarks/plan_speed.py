"""Wall time of ``autotuner plan`` for Llama-3.1-70B at 20 req/s of D(1024,256), TTFT p90 <= 1 s.

Prints how many configurations were predicted and ranked, the predictions made, the wall time and
the CPU seconds it took and the machine's load average (the wall time depends on what else runs here). Run:
``python benchmarks/plan_speed.py [--gpus h100,h200,b200] [--workers N]`` (GPUs the registry lacks are
left out, and said so).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from autotuner.hardware.gpus import GPUS
from autotuner.planning import PlanRequest, Traffic, make_plan
from autotuner.planning.planner import default_workers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gpus", default="h100,h200,b200")
    ap.add_argument("--workers", type=int, default=default_workers())
    args = ap.parse_args()
    wanted = [g.strip() for g in args.gpus.split(",") if g.strip()]
    gpus = [g for g in wanted if g in GPUS]
    if len(gpus) < len(wanted):
        print(f"not in the hardware registry, left out: {', '.join(g for g in wanted if g not in GPUS)}")
    req = PlanRequest("meta-llama/Llama-3.1-70B-Instruct", Traffic("D(1024,256)", rate=20.0), {"ttft_p90": 1.0}, gpus)
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    result = make_plan(req, workers=args.workers)
    wall = time.monotonic() - t0
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)  # what an idle machine would spread over the workers
    best = result.ranked()[0]
    c = best.evaluation.candidate
    print(f"{'gpus':<16} {'workers':>7} {'predicted':>9} {'ranked':>6} {'predictions':>11} {'wall s':>7} {'cpu s':>6} {'load':>5}")
    print(f"{','.join(gpus):<16} {args.workers:>7} {len(result.evaluations):>9} {len(result.plans):>6} "
          f"{sum(e.predictions for e in result.evaluations):>11} {wall:>7.1f} {cpu:>6.1f} {load:>5.1f}")
    print(f"best: {best.evaluation.replicas} x {c.engine} {c.layout} {c.knob_label} on {c.gpu}, "
          f"${best.cost_per_mtok:.3f}/Mtok")


if __name__ == "__main__":
    main()
