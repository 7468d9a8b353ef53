"""``benchmark.runner: ome-benchmarkjob``: the load comes from an OME BenchmarkJob (genai-bench in the
cluster, beside the engine) instead of our client, and its results come back in our metric names.

Per experiment: the BenchmarkJob is dry-run, created and watched until OME sets ``status.state``
Completed or Failed; a short-lived reader pod mounts the results' PVC read-only and prints every
genai-bench result file to its log, which the tuner reads through the API; both are deleted on every
way out. Results are read from ``pvc://CLAIM/PATH`` outputs only (object stores need their own
credentials, which the tuner does not hold).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from ...bench.genai_results import GENAI_METRICS, GenaiResultError, levels_from_stream
from ...bench.result import BenchmarkResult, LevelResult
from ..base import DeploymentError
from .client import Kube, api_message, api_status, is_api_error, wait_for
from .manifests import benchmark_job
from .options import OME_GROUP, OME_VERSION, KubernetesOptions, dns_name, owner_labels, parse_options

if TYPE_CHECKING:  # a type only: the task spec names the deployers (deploy.registry)
    from ...spec.task import Task

MOUNT = "/results"
# Every result file under the experiment's folder, each after a "### <path>" line.
READER_SCRIPT = ('find "$0" -name "*.json" ! -name experiment_metadata.json '
                 '-exec sh -c \'echo "### $1"; cat "$1"; echo\' _ {} \\;')


def pvc_location(uri: str | None) -> tuple[str, str]:
    """``pvc://CLAIM/PATH`` -> (CLAIM, PATH); ValueError otherwise."""
    if not uri or not uri.startswith("pvc://") or not uri[len("pvc://"):].split("/", 1)[0]:
        raise ValueError(f"kubernetes.benchmark_output: results are read back from a PersistentVolumeClaim: "
                         f"give pvc://CLAIM/PATH (got {uri!r})")
    claim, _, path = uri[len("pvc://"):].partition("/")
    return claim, path.strip("/")


def benchmark_problems(task: Task) -> list[str]:
    """Why a task cannot use a BenchmarkJob, found before anything is deployed."""
    if task.benchmark.runner != "ome-benchmarkjob":
        return []
    problems = []
    if task.deployment != "kubernetes":
        problems.append(f"benchmark.runner: ome-benchmarkjob needs deployment: kubernetes (got {task.deployment})")
    try:
        options = parse_options(task.kubernetes)
        if options.mode != "ome":
            problems.append("benchmark.runner: ome-benchmarkjob needs kubernetes.mode: ome (got deployment)")
        pvc_location(options.benchmark_output)
    except ValueError as e:
        problems.append(str(e))
    for metric in [o.metric for o in task.objectives] + list(task.slo):
        if metric not in GENAI_METRICS:
            problems.append(f"benchmark.runner: genai-bench does not measure {metric}; with ome-benchmarkjob "
                            f"objectives and SLOs use: {', '.join(GENAI_METRICS)}")
    if task.workload.rates:
        problems.append("workload.rates: a BenchmarkJob drives concurrency levels only (numConcurrency)")
    if task.workload.dataset:
        problems.append("workload.dataset: not passed to a BenchmarkJob; use scenarios")
    return problems


class BenchmarkJobRunner:
    """A load generator (``search.runners.LoadGenerator``) for the deployed runner, chosen when the
    task is wired; ``connect`` gives the cluster's client (the deployer's, connected on first use)."""

    def __init__(self, connect: Callable[[], Kube], task: Task, options: KubernetesOptions):
        self.connect, self.task, self.options = connect, task, options
        self.claim, self.path = pvc_location(options.benchmark_output)

    @property
    def kube(self) -> Kube:
        return self.connect()

    def measure(self, deployment: Any, name: str, num_gpus: int, time_left: float,
                on_level: Callable[[LevelResult], bool], stop: threading.Event,
                cancel: threading.Event | None) -> BenchmarkResult:
        """The experiment's whole load; its levels reach ``on_level`` once the job has finished."""
        levels = self.run(name, num_gpus, time.monotonic() + time_left, cancel)
        for level in levels:
            on_level(level)
        return BenchmarkResult(levels)

    def run(self, experiment: str, num_gpus: int, deadline: float, cancel: threading.Event | None) -> list[LevelResult]:
        job = benchmark_job(self.task, self.options, experiment)
        name = job["metadata"]["name"]
        try:
            for dry_run in (True, False):
                self._custom("create_namespaced_custom_object", job, dry_run="All" if dry_run else None,
                             field_validation="Strict")
        except Exception as e:
            raise DeploymentError("unavailable", f"BenchmarkJob {name} was refused: {_why(e)}") from e
        try:
            state = wait_for(lambda: self._get(name), *self._jobs_watch(), name, _job_verdict, deadline, cancel)
            if state is None:
                raise DeploymentError("timeout", f"BenchmarkJob {name} had not completed at the experiment's "
                                      f"deadline ({self.task.timeouts.experiment:g} s)")
            if state != "Completed":
                raise DeploymentError("crash", f"BenchmarkJob {name} {state}")
            text = self._read(experiment, deadline, cancel)
        finally:
            self._delete_job(name)
        try:
            levels = levels_from_stream(text, self.task.slo, num_gpus)
        except GenaiResultError as e:
            raise DeploymentError("crash", f"BenchmarkJob {name}: unreadable results: {e}") from e
        if not levels:
            raise DeploymentError("crash", f"BenchmarkJob {name} completed but left no result files under "
                                  f"pvc://{self.claim}/{self.path}/{dns_name(experiment)}")
        return levels

    # -- the reader pod ------------------------------------------------------------------------
    def _read(self, experiment: str, deadline: float, cancel: threading.Event | None) -> str:
        ns, name = self.options.namespace, dns_name(f"{experiment}-results")
        folder = "/".join(p for p in (MOUNT, self.path, dns_name(experiment)) if p)
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": ns, "labels": owner_labels(self.task.name, experiment)},
               "spec": {"restartPolicy": "Never",
                        "containers": [{"name": "reader", "image": self.task.benchmark.reader_image,
                                        "command": ["sh", "-c", READER_SCRIPT, folder],
                                        "volumeMounts": [{"name": "results", "mountPath": MOUNT, "readOnly": True}]}],
                        "volumes": [{"name": "results",
                                     "persistentVolumeClaim": {"claimName": self.claim, "readOnly": True}}]}}
        self.kube.core.create_namespaced_pod(ns, pod)
        try:
            phase = wait_for(lambda: self._pod(name), self.kube.core.list_namespaced_pod, (ns,), name,
                             _pod_verdict, deadline, cancel)
            log = self.kube.core.read_namespaced_pod_log(name, ns)
            if phase != "Succeeded":
                raise DeploymentError("crash", f"the results reader pod {name} ended {phase or 'never'}: "
                                      f"{log[-500:]}")
            return log
        finally:
            try:
                self.kube.core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
            except Exception as e:
                if api_status(e) != 404:
                    raise

    # -- plumbing ------------------------------------------------------------------------------
    def _custom(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.kube.custom, method)(OME_GROUP, OME_VERSION, self.options.namespace, "benchmarkjobs",
                                                 *args, **kwargs)

    def _jobs_watch(self) -> tuple[Any, tuple]:
        return (self.kube.custom.list_namespaced_custom_object,
                (OME_GROUP, OME_VERSION, self.options.namespace, "benchmarkjobs"))

    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            return self._custom("get_namespaced_custom_object", name)
        except Exception as e:
            if api_status(e) == 404:
                return None
            raise

    def _pod(self, name: str) -> dict[str, Any] | None:
        try:
            return self.kube.as_dict(self.kube.core.read_namespaced_pod(name, self.options.namespace))
        except Exception as e:
            if api_status(e) == 404:
                return None
            raise

    def _delete_job(self, name: str) -> None:
        try:
            self._custom("delete_namespaced_custom_object", name)
        except Exception as e:
            if api_status(e) != 404:
                raise
        gone = wait_for(lambda: self._get(name), *self._jobs_watch(), name,
                        lambda event_type, _obj: True if event_type == "DELETED" else None,
                        time.monotonic() + self.options.delete_timeout, None)
        if gone is None:
            raise DeploymentError("timeout", f"BenchmarkJob {name} was still in the cluster after "
                                  f"{self.options.delete_timeout:g} s")


def _job_verdict(event_type: str, obj: dict[str, Any]) -> str | None:
    if event_type == "DELETED":
        return "was deleted while it ran"
    status = obj.get("status") or {}
    state = status.get("state")
    if state == "Completed":
        return state
    if state == "Failed":
        return f"failed: {status.get('failureMessage') or status.get('details') or 'no message'}"
    return None


def _pod_verdict(event_type: str, obj: dict[str, Any]) -> str | None:
    if event_type == "DELETED":
        return "deleted"
    phase = (obj.get("status") or {}).get("phase")
    return phase if phase in ("Succeeded", "Failed") else None


def _why(e: Exception) -> str:
    return api_message(e) if is_api_error(e) else f"{type(e).__name__}: {e}"
