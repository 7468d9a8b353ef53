"""OME's BenchmarkJob in the fake cluster, and the PersistentVolumeClaims its results land on.

A BenchmarkJob's genai-bench run is played by our own load generator against the engine of the
InferenceService it names; the results are written as genai-bench writes them (one JSON per scenario
and concurrency, ``aggregated_metrics`` with its ``stats``) under the claim's directory, then
``status.state`` becomes Completed (or Failed with ``failureMessage``). A claim ``pvc://CLAIM/PATH`` is
the directory ``<work_dir>/pvcs/CLAIM/PATH``. A pod created through the API whose command is
``sh -c SCRIPT ARGS`` runs on this machine with its claim mounts mapped to those directories (the
results reader), and ends Succeeded or Failed with its output as its log.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotuner.bench.genai_results import STATS
from autotuner.bench.runner import benchmark
from autotuner.spec.workload import Workload

from .kinds import PODS, by_plural
from .kubelet import REACHABLE_URL
from .store import NotFound, now

if TYPE_CHECKING:
    from .cluster import Cluster


class BenchmarkJobController:
    def __init__(self, cluster: "Cluster"):
        self.cluster, self.store = cluster, cluster.store
        self.jobs = by_plural(cluster.crds, "benchmarkjobs")
        self.isvcs = by_plural(cluster.crds, "inferenceservices")
        self.runs: list[dict[str, Any]] = []  # what each job ran, for tests
        self.fail_next: str | None = None  # tests: the next job fails with this message

    def pvc_dir(self, claim: str) -> Path:
        return self.cluster.work_dir / "pvcs" / claim

    def on_event(self, type_: str, obj: dict[str, Any]) -> None:
        if type_ != "ADDED":
            return
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        self._set(ns, name, {"state": "Running", "startTime": now()})
        threading.Thread(target=self._run, args=(ns, name, obj["spec"]), daemon=True, name=f"bench-{name}").start()

    def _run(self, ns: str, name: str, spec: dict[str, Any]) -> None:
        try:
            self._measure(ns, name, spec)
            status = {"state": "Completed", "completionTime": now()}
        except Exception as e:  # what OME reports when genai-bench fails
            status = {"state": "Failed", "failureMessage": f"{type(e).__name__}: {e}", "completionTime": now()}
        self.cluster.run_soon(self._set, ns, name, status)

    def _measure(self, ns: str, name: str, spec: dict[str, Any]) -> None:
        if self.fail_next:
            message, self.fail_next = self.fail_next, None
            raise RuntimeError(message)
        target = spec["endpoint"]["inferenceService"]
        isvc = self.store.find(self.isvcs, target.get("namespace", ns), target["name"])
        url = ((isvc or {}).get("metadata", {}).get("annotations") or {}).get(REACHABLE_URL)
        if not url:
            raise RuntimeError(f"InferenceService {target['name']} has no ready endpoint")
        with urllib.request.urlopen(f"{url}/v1/models", timeout=10) as r:
            model = json.load(r)["data"][0]["id"]
        storage = spec["outputLocation"]["storageUri"]
        claim, _, path = storage.removeprefix("pvc://").partition("/")
        folder = self.pvc_dir(claim) / path / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "experiment_metadata.json").write_text(json.dumps({"benchmark_version": "fake", "model": model}))
        for scenario in spec.get("trafficScenarios") or ["D(100,100)"]:
            for c in spec.get("numConcurrency") or [1]:
                workload = Workload(scenarios=[scenario], concurrency=[c], num_requests=spec["maxRequestsPerIteration"])
                level = benchmark(url, model, workload).levels[0]
                self.runs.append({"job": name, "scenario": scenario, "concurrency": c, "metrics": level.metrics})
                file = f"{re.sub(r'[^A-Za-z0-9]+', '_', scenario).strip('_')}_{spec['task']}_num_concurrency_{c}_time_" \
                       f"{int(level.metrics['duration'])}s.json"
                (folder / file).write_text(json.dumps(genai_document(scenario, c, level.metrics)))

    def _set(self, ns: str, name: str, status: dict[str, Any]) -> None:
        try:
            self.store.update(self.jobs, ns, name, lambda o: o.__setitem__("status", {**(o.get("status") or {}),
                                                                                     **status}))
        except NotFound:
            pass


def genai_document(scenario: str, concurrency: int, m: dict[str, float]) -> dict[str, Any]:
    """Our level's metrics in genai-bench's result format (aggregates only)."""
    stats = {theirs: {"mean": m[f"{ours}_mean"], **{f"p{p}": m[f"{ours}_p{p}"] for p in (50, 90, 95, 99)}}
             for ours, theirs in STATS.items()}
    total, errors = int(m["num_requests"]), int(m["num_errors"])
    return {"aggregated_metrics": {
        "scenario": scenario, "num_concurrency": concurrency, "batch_size": 1, "iteration_type": "num_concurrency",
        "run_duration": m["duration"], "mean_output_throughput_tokens_per_s": m["output_throughput"],
        "mean_input_throughput_tokens_per_s": m["input_throughput"],
        "mean_total_tokens_throughput_tokens_per_s": m["total_throughput"],
        "requests_per_second": m["request_throughput"], "error_codes_frequency": [], "error_rate": errors / total,
        "num_error_requests": errors, "num_completed_requests": total - errors, "num_requests": total,
        "stats": stats}, "individual_request_metrics": [], "_time_unit": "s"}


class ScriptPods:
    """Pods created through the API that run ``sh -c``: run here, claim mounts mapped to directories."""

    def __init__(self, cluster: "Cluster", jobs: BenchmarkJobController):
        self.cluster, self.store, self.jobs = cluster, cluster.store, jobs

    def on_event(self, type_: str, pod: dict[str, Any]) -> None:
        if type_ != "ADDED" or pod["metadata"].get("ownerReferences"):
            return  # controllers' pods are the kubelet's engines
        container = pod["spec"]["containers"][0]
        command = (container.get("command") or []) + (container.get("args") or [])
        if command[:2] != ["sh", "-c"]:
            return
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["spec"].get("volumes") or []
                  if v.get("persistentVolumeClaim")}
        mounts = {m["mountPath"]: self.jobs.pvc_dir(claims[m["name"]]) for m in container.get("volumeMounts") or []
                  if m["name"] in claims}

        def host(arg: str) -> str:
            for mount, directory in mounts.items():
                if arg == mount or arg.startswith(mount + "/"):
                    return str(directory) + arg[len(mount):]
            return arg

        argv = command[:3] + [host(a) for a in command[3:]]
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self._phase(ns, name, "Running")
        threading.Thread(target=self._run, args=(ns, name, argv), daemon=True, name=f"pod-{name}").start()

    def _run(self, ns: str, name: str, argv: list[str]) -> None:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        (self.cluster.log_dir / f"{ns}_{name}.log").write_text(proc.stdout + proc.stderr)
        self.cluster.run_soon(self._phase, ns, name, "Succeeded" if proc.returncode == 0 else "Failed")

    def _phase(self, ns: str, name: str, phase: str) -> None:
        try:
            self.store.update(PODS, ns, name, lambda p: p.setdefault("status", {}).update(phase=phase))
        except NotFound:
            pass
