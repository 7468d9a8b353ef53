"""Feed hostile and malformed task files (tests/hostile_cases.py) to `autotuner validate` and `autotuner run`.

Each must be refused with exit 2 naming the field, within 2 s and 200 MB peak memory, deploying nothing
and writing no file. Prints one row per case and command: exit code, seconds, peak RSS, first line.

    .venv/bin/python benchmarks/hostile_inputs.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.hostile_cases import CASES  # noqa: E402


def refuse(args: list[str], cwd: Path) -> tuple[int, float, float, str]:
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "autotuner", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "200"})
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - t0
    lines = [ln.strip() for ln in out.splitlines() if ln.strip() and "is invalid" not in ln]
    return os.waitstatus_to_exitcode(status), seconds, usage.ru_maxrss / 1024, (lines[0] if lines else "")[:70]


def main() -> int:
    bad = 0
    print(f"{'case':<28} {'command':<8} {'exit':>4} {'s':>5} {'MB':>5}  first line")
    for name, content, word in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            task = work / ("task.json" if name.startswith("JSON") else "task.yaml")
            task.write_bytes(content)
            for command in ("validate", "run"):
                args = [command, str(task)] + (["--simulate", "h100", "--db", str(work / "db.sqlite"),
                                                "--out", str(work / "runs")] if command == "run" else [])
                code, seconds, mb, line = refuse(args, work)
                written = sorted(p.name for p in work.iterdir() if p != task)
                ok = code == 2 and seconds <= 2.0 and mb <= 200 and not written and word.lower() in line.lower()
                bad += not ok
                print(f"{name[:28]:<28} {command:<8} {code:>4} {seconds:5.2f} {mb:5.0f}  {line}"
                      + ("" if ok else f"   <-- NOT OK (written: {written})"))
    print(f"\n{len(CASES)} cases x 2 commands: {2 * len(CASES) - bad} refused as required, {bad} not")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
