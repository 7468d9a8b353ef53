"""The original project's 13 example task files (tests/data/seed_examples) validate and run unchanged."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent / "data" / "seed_examples").glob("*.json"))


def autotuner(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autotuner", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "AUTOTUNER_STATE_DIR": str(tmp_path / "state")}, cwd=tmp_path)


def test_all_thirteen_are_there():
    assert len(EXAMPLES) == 13


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_validates_and_runs_to_a_best_in_virtual_time(path, tmp_path):
    valid = autotuner("validate", str(path), tmp_path=tmp_path)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "valid" in valid.stdout
    out = tmp_path / "runs"
    run = autotuner("run", str(path), "--simulate", "h100", "--virtual-time", "--db", str(tmp_path / "db.sqlite"),
                    "--out", str(out), tmp_path=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    docs = list(out.glob("*/results.json"))
    assert len(docs) == 1
    doc = json.loads(docs[0].read_text())
    assert doc["best"] is not None and doc["best"]["metrics"]
    assert "best (experiment" in run.stdout
