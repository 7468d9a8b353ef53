"""``benchmark.runner: ome-benchmarkjob``: an OME BenchmarkJob (genai-bench) measures the experiment in
the cluster and its results come back from the PVC in our metric names; and genai-bench's real result
format, read the same way."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

pytest.importorskip("kubernetes")
pytest.importorskip("jsonschema")

from autotuner.bench.genai_results import level_from_genai, levels_from_stream  # noqa: E402
from autotuner.engines import get_adapter  # noqa: E402
from autotuner.search.runners import DeployedRunner  # noqa: E402
from autotuner.service.session import RunOptions, make_deployer, task_problems  # noqa: E402
from autotuner.spec import task_from_dict  # noqa: E402

from .fake_k8s.helpers import leftovers, make_task  # noqa: E402
from .test_k8s_deployer import cluster  # noqa: E402,F401  (the module's fake cluster fixture)

REAL = Path(__file__).parent / "data" / "genai-bench" / "D64_32_text-to-text_num_concurrency_4_time_12s.json"


def job_task(cluster, **kubernetes):
    task = make_task(cluster, benchmark_output="pvc://bench-results/autotuner", **kubernetes)
    doc = task.model_dump(mode="json")
    doc["benchmark"] = {"runner": "ome-benchmarkjob"}
    doc["gpus"] = 2
    doc["workload"].update(num_requests=6, concurrency=[1, 2], scenarios=["D(32,8)"])
    doc["slo"] = {"ttft_p90": 5.0}
    return task_from_dict(doc)


def job_runner(task, tmp_path) -> DeployedRunner:
    """Wired as a run would be: the deployer, and the BenchmarkJob as the load generator."""
    placed = make_deployer(task, tmp_path, RunOptions(), simulated=False)
    assert placed.load is not None
    return DeployedRunner(task, get_adapter(task.engine), placed.deployer,
                          {"gpu": "h100", "seed": 0, "startup_seconds": 0.1}, seed=0, load=placed.load)


def test_a_benchmark_job_measures_the_experiment_and_its_results_come_back(cluster, tmp_path):
    task = job_task(cluster)
    assert task_problems(task) == []
    runner = job_runner(task, tmp_path)
    seen = []
    outcome = runner.run({"tp-size": 2}, [0, 1], f"{task.name}-exp1", lambda _p: None, seen.append, threading.Event())
    assert outcome.ok, outcome.error
    assert [(lv["scenario"], lv["concurrency"]) for lv in outcome.levels] == [("D(32,8)", 1), ("D(32,8)", 2)]
    assert [lv.concurrency for lv in seen] == [1, 2]  # levels reach the tuner's callback
    ran = {r["concurrency"]: r["metrics"] for r in cluster.benchmarks.runs if r["job"].startswith(task.name.lower())}
    for level in outcome.levels:  # what the job measured, in our names, nothing lost on the way
        measured = ran[level["concurrency"]]
        for metric in ("ttft_p50", "ttft_p90", "tpot_p50", "e2e_p99", "output_throughput", "request_throughput"):
            assert level["metrics"][metric] == pytest.approx(measured[metric], rel=1e-9)
        assert level["metrics"]["num_requests"] == 6 and level["metrics"]["success_rate"] == 1.0
        assert level["metrics"]["output_throughput_per_gpu"] == pytest.approx(measured["output_throughput"] / 2)
        assert math.isnan(level["metrics"]["itl_p50"])  # genai-bench has no inter-token latencies
    ns = task.kubernetes["namespace"]
    assert cluster.objects("benchmarkjobs", ns) == []  # the job and the reader pod are gone
    assert leftovers(cluster, ns)["pods"] == [] and leftovers(cluster, ns)["inferenceservices"] == []


def test_a_failed_benchmark_job_fails_the_experiment_with_omes_message(cluster, tmp_path):
    task = job_task(cluster)
    runner = job_runner(task, tmp_path)
    cluster.benchmarks.fail_next = "genai-bench: model not found"
    outcome = runner.run({"tp-size": 1}, [0], f"{task.name}-exp2", lambda _p: None, lambda _l: True,
                         threading.Event())
    assert not outcome.ok and outcome.reason == "crash"
    assert "failed" in outcome.error and "model not found" in outcome.error
    assert cluster.objects("benchmarkjobs", task.kubernetes["namespace"]) == []


def test_tasks_that_cannot_use_a_benchmark_job_are_refused_before_deploying(cluster):
    task = job_task(cluster)
    doc = task.model_dump(mode="json")
    doc["slo"] = {"itl_p90": 0.05}
    doc["kubernetes"]["benchmark_output"] = "oci://n/ns/b/bucket/o/x"
    doc["workload"]["rates"] = [2.0]
    problems = task_problems(task_from_dict(doc))
    assert any("genai-bench does not measure itl_p90" in p for p in problems)
    assert any(p.startswith("kubernetes.benchmark_output: ") and "pvc://CLAIM/PATH" in p for p in problems)
    assert any(p.startswith("workload.rates:") for p in problems)
    doc["deployment"] = "local"
    assert any("needs deployment: kubernetes" in p for p in task_problems(task_from_dict(doc)))


def test_genai_bench_real_result_file_reads_into_our_metrics():
    doc = json.loads(REAL.read_text())  # written by genai-bench 0.0.5 against llama-server
    agg = doc["aggregated_metrics"]
    level = level_from_genai(doc, slo={"ttft_p90": 0.85}, num_gpus=1)
    assert (level.scenario, level.concurrency) == ("D(64,32)", 4)
    for ours, theirs in (("ttft", "ttft"), ("tpot", "tpot"), ("e2e", "e2e_latency")):
        for q in ("mean", "p50", "p90", "p99"):
            assert level.metrics[f"{ours}_{q}"] == pytest.approx(agg["stats"][theirs][q], rel=1e-9)
    assert level.metrics["output_throughput"] == pytest.approx(agg["mean_output_throughput_tokens_per_s"])
    assert level.metrics["request_throughput"] == pytest.approx(agg["requests_per_second"])
    assert level.metrics["num_requests"] == 32 and level.metrics["success_rate"] == 1.0
    met = sum(r["ttft"] <= 0.85 for r in doc["individual_request_metrics"])
    assert 0 < met < 32 and level.metrics["goodput"] == pytest.approx(met / agg["run_duration"])
    stream = f"### ./x/experiment_metadata.json\n{{}}\n### ./x/{REAL.name}\n{REAL.read_text()}\n"
    assert [lv.concurrency for lv in levels_from_stream(stream)] == [4]
