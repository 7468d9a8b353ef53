"""The demo task end to end: a real-time run over HTTP on the simulated engine and a virtual-time run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart.yaml"


def run(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "autotuner", "run", str(QUICKSTART), "--simulate", "h100",
                           "--db", str(tmp_path / "db.sqlite"), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=400,
                          env={**__import__("os").environ, "AUTOTUNER_STATE_DIR": str(tmp_path / "state")})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "best (experiment" in proc.stdout
    return json.loads((out / "quickstart" / "results.json").read_text())


def check_document(doc: dict) -> None:
    exps = doc["experiments"]
    assert len(exps) >= 8
    failed = [e for e in exps if e["status"] == "failed"]
    infeasible = [e for e in exps if e["status"] == "infeasible"]
    assert failed and all("out of memory" in e["error"].lower() for e in failed)
    assert infeasible and all("SLO not met" in e["error"] for e in infeasible)
    best = doc["best"]
    slo = doc["task"]["slo"]
    assert all(best["metrics"][k] <= v for k, v in slo.items())
    for key in ("ttft_mean", "ttft_p50", "ttft_p90", "ttft_p99", "tpot_p90", "itl_p90", "e2e_p99",
                "output_throughput", "output_throughput_per_gpu", "total_throughput", "request_throughput",
                "goodput", "success_rate"):
        assert key in best["metrics"]
    assert doc["baseline"]["baseline"] is True


@pytest.mark.slow
def test_quickstart_real_time_and_virtual_time_agree(tmp_path):
    real = run(tmp_path / "real")
    check_document(real)
    virtual = run(tmp_path / "virtual", "--virtual-time")
    check_document(virtual)
    best_doc = next(e for e in real["experiments"] if e["id"] == real["best"]["id"])
    assert best_doc["telemetry"]["peak_running"] >= 1 and best_doc["telemetry"]["peak_kv_usage"] > 0
    # Real time carries the host's timing noise: the real best must be one of the virtual run's best
    # configurations (within 3% of its best score), not necessarily the same one when two are that close.
    same = next(e for e in virtual["experiments"] if e["parameters"] == real["best"]["parameters"]
                and e["baseline"] == real["best"]["baseline"])
    assert same["status"] == "succeeded" and same["score"] >= 0.97 * virtual["best"]["score"]
    # the same statuses for the same configurations
    status = lambda doc: {json.dumps(e["parameters"], sort_keys=True): e["status"] for e in doc["experiments"]}
    assert status(real) == status(virtual)


def test_quickstart_virtual_time_is_fast(tmp_path):
    check_document(run(tmp_path, "--virtual-time"))
