"""The defaults and the search space: any listed subset of values runs, and a recommendation is never
worse than the engine's defaults."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

TASK = {
    "name": "subset", "model": "meta-llama/Llama-3.1-8B-Instruct", "engine": "sglang", "gpus": 2,
    "objective": {"maximize": "output_throughput_per_gpu"}, "slo": {"ttft_p90": 2.0},
    "workload": {"scenarios": ["D(256,64)"], "concurrency": [8], "num_requests": 32},
}


def run(tmp_path: Path, space: dict) -> tuple[subprocess.CompletedProcess, dict]:
    spec = {**TASK, "search": {"strategy": "grid", "max_experiments": 4, "space": space}}
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "autotuner", "run", str(path), "--simulate", "h100",
                           "--virtual-time", "--db", str(tmp_path / "db.sqlite"), "--out", str(out)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "AUTOTUNER_STATE_DIR": str(tmp_path / "state")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads((out / "subset" / "results.json").read_text())


def test_categorical_space_without_the_default_runs_to_a_best(tmp_path):
    # The defaults (tp 1, no mixed chunk, fcfs) lie outside every axis: measured as the baseline only.
    proc, doc = run(tmp_path, {"tp-size": [2], "enable-mixed-chunk": [True], "schedule-policy": ["lpm", "random"]})
    searched = [e for e in doc["experiments"] if not e["baseline"]]
    assert {e["parameters"]["schedule-policy"] for e in searched} == {"lpm", "random"}
    assert all(e["status"] == "succeeded" for e in doc["experiments"])
    assert doc["best"] is not None and "best (experiment" in proc.stdout


def test_defaults_better_than_the_only_configuration_are_the_best(tmp_path):
    # tp 2 halves the per-GPU throughput of an 8B model at this load: worse than the defaults (tp 1).
    proc, doc = run(tmp_path, {"tp-size": [2]})
    baseline = doc["baseline"]
    other = next(e for e in doc["experiments"] if not e["baseline"])
    assert other["status"] == "succeeded" and other["score"] < baseline["score"]
    assert doc["best"]["id"] == baseline["id"] and doc["best"]["baseline"] is True
    assert "--tp-size" not in doc["best"]["command"]
    launch = [line for line in proc.stdout.splitlines() if line.startswith("launch:")]
    assert launch and "--tp-size" not in launch[0]
    assert "keep them" in proc.stdout
