"""The demo task (examples/quickstart.yaml) tuned once on the simulated engine in virtual time, for
the report, export and terminal-width tests."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "quickstart.yaml"


@dataclass
class DemoRun:
    db: str
    out: Path
    stdout: str
    returncode: int


def cli(*args: str, columns: int = 80, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``autotuner ARGS`` in a subprocess with no terminal (stdout is a pipe) and COLUMNS set."""
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONPATH": str(ROOT / "src")}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-m", "autotuner", *args], capture_output=True, text=True,
                          env=env, cwd=cwd or ROOT, timeout=timeout)


def run_demo(tmp: Path) -> DemoRun:
    db = f"sqlite:///{tmp / 'demo.db'}"
    done = cli("run", str(DEMO), "--simulate", "h100", "--virtual-time", "--db", db, "--out", str(tmp / "runs"))
    return DemoRun(db, tmp / "runs", done.stdout, done.returncode)
