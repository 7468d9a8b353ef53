"""Each fault mode of the fault engine through a real ``autotuner run``: is the experiment recorded right?

For every mode (crash mid-benchmark, hang with the port open, 50% HTTP 500, stall mid-stream,
malformed SSE, never ready, ignores SIGTERM; and a healthy control) one task of one experiment runs
with short timeouts. Prints: status recorded, reason, wall time against ``timeouts.experiment``,
whether it was ranked, leftover engine processes. Exit status 1 when a faulty experiment is not
``failed`` with its reason, is ranked, overruns the deadline by more than 15 s, or leaves a process.

    .venv/bin/python benchmarks/fault_matrix.py [--experiment 20] [--stall 3] [--modes crash,hang]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.fault_runs import EXPECTED, run_fault  # noqa: E402

OVERRUN_ALLOWED = 15.0  # seconds past timeouts.experiment an experiment may take to end


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", type=float, default=20.0, help="timeouts.experiment (seconds)")
    parser.add_argument("--stall", type=float, default=3.0, help="timeouts.stall (seconds)")
    parser.add_argument("--modes", default=",".join(EXPECTED), help="comma-separated fault modes")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in EXPECTED]
    if unknown:
        parser.error(f"--modes: unknown {', '.join(unknown)} (allowed: {', '.join(EXPECTED)})")
    header = f"{'mode':<15} {'status':<10} {'reason':<12} {'expected':<22} {'wall s':>7} {'exp s':>7} " \
             f"{'deadline':>8} {'ranked':>6} {'leftover':>8}  verdict"
    print(header)
    print("-" * len(header))
    bad = 0
    with tempfile.TemporaryDirectory(prefix="fault-matrix-") as tmp:
        for mode in modes:
            run = run_fault(mode, Path(tmp) / mode, experiment=args.experiment, stall=args.stall,
                            startup=args.experiment)
            want_status, want_reason = EXPECTED[mode]
            problems = []
            if (run.status, run.reason) != (want_status, want_reason):
                problems.append("wrong status/reason")
            if want_status == "failed" and run.ranked:
                problems.append("ranked")
            if run.experiment_wall > run.deadline + OVERRUN_ALLOWED:
                problems.append("overran")
            if run.leftovers:
                problems.append("leftovers")
            bad += bool(problems)
            expected = f"{want_status}/{want_reason or '-'}"
            print(f"{mode:<15} {run.status:<10} {run.reason or '-':<12} {expected:<22} {run.wall:>7.1f} "
                  f"{run.experiment_wall:>7.1f} {run.deadline:>8g} {'yes' if run.ranked else 'no':>6} "
                  f"{len(run.leftovers):>8}  {'ok' if not problems else ', '.join(problems)}", flush=True)
            if problems:
                print(f"    error: {run.error.splitlines()[0] if run.error else '-'}")
    print(f"\n{len(modes) - bad}/{len(modes)} modes recorded right "
          f"(timeouts: experiment {args.experiment:g} s, stall {args.stall:g} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
