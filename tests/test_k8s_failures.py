"""How a Kubernetes start fails: out of memory, unschedulable, too slow, refused by the API server,
missing runtime, cancelled. Each raises DeploymentError with what the cluster says (conditions,
modelStatus, pod events) and leaves nothing of ours behind."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("kubernetes")
pytest.importorskip("jsonschema")

from autotuner.deploy.base import DeploymentError  # noqa: E402
from autotuner.deploy.kubernetes import make_kubernetes_deployer  # noqa: E402
from autotuner.deploy.kubernetes.ome import OmeDeployer  # noqa: E402

from .fake_k8s import FakeCluster  # noqa: E402
from .fake_k8s.helpers import leftovers, make_task, sim_spec  # noqa: E402

CLEAN = {"inferenceservices": [], "deployments": [], "services": [], "pods": []}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with FakeCluster(tmp_path_factory.mktemp("k8s"), gpus=4) as fake:
        yield fake
        assert fake.errors == []


def test_out_of_memory_at_start_reports_conditions_and_events(cluster, tmp_path):
    task = make_task(cluster, model="meta-llama/Llama-3.1-70B-Instruct")
    ns = task.kubernetes["namespace"]
    deployer = make_kubernetes_deployer(task, tmp_path)
    with pytest.raises(DeploymentError) as info:
        deployer.deploy(sim_spec(task, {"tp-size": 1}), f"{task.name}-exp1", [0], 30)
    error = info.value
    assert error.reason == "oom"
    assert f"InferenceService {task.name}-exp1: EngineReady=False" in error.message
    assert "modelStatus: transitionStatus=BlockedByFailedLoad" in error.message
    assert "OOMKilled (Warning)" in error.message and "BackOff (Warning)" in error.message
    assert "out of memory" in error.log_tail.lower()
    assert error.log_path is not None and "# autotuner: oom" in error.log_path.read_text()
    assert leftovers(cluster, ns) == CLEAN


def test_unschedulable_experiment_times_out_with_the_scheduler_events(cluster, tmp_path):
    task = make_task(cluster)
    ns = task.kubernetes["namespace"]
    deployer = make_kubernetes_deployer(task, tmp_path)
    with pytest.raises(DeploymentError) as info:
        deployer.deploy(sim_spec(task, {"tp-size": 8}), f"{task.name}-exp1", list(range(8)), 2)
    error = info.value
    assert error.reason == "timeout"
    assert "was not ready within 2 s" in error.message
    assert "EngineReady=False (Initializing)" in error.message
    assert "Unschedulable" in error.message and "Insufficient nvidia.com/gpu" in error.message
    assert "FailedScheduling (Warning)" in error.message
    assert leftovers(cluster, ns) == CLEAN


def test_slow_engine_times_out(cluster, tmp_path):
    task = make_task(cluster, mode="deployment")
    ns = task.kubernetes["namespace"]
    deployer = make_kubernetes_deployer(task, tmp_path)
    with pytest.raises(DeploymentError) as info:
        deployer.deploy(sim_spec(task, {}, startup_seconds=60), f"{task.name}-exp1", [0], 1.5)
    assert info.value.reason == "timeout"
    assert "Available=False (MinimumReplicasUnavailable)" in info.value.message
    assert leftovers(cluster, ns) == CLEAN


class _InvalidManifest(OmeDeployer):
    def manifests(self, spec, name):
        [isvc] = super().manifests(spec, name)
        isvc["spec"]["engine"]["minReplicas"] = "one"
        return [isvc]


def test_server_side_dry_run_refuses_before_anything_is_created(cluster, tmp_path):
    task = make_task(cluster)
    ns = task.kubernetes["namespace"]
    with pytest.raises(DeploymentError) as info:
        _InvalidManifest(task, tmp_path).deploy(sim_spec(task, {}), f"{task.name}-exp1", [0], 10)
    assert info.value.reason == "crash"
    assert "(server-side dry run)" in info.value.message
    assert "spec.engine.minReplicas: Invalid value" in info.value.message
    created = [e for e in cluster.store.history
               if e.resource.plural == "inferenceservices" and e.object["metadata"].get("namespace") == ns]
    assert created == []


def test_missing_runtime_is_named(cluster, tmp_path):
    task = make_task(cluster, create_presets=False, base_model="nope-model", runtime="nope-runtime")
    with pytest.raises(DeploymentError) as info:
        make_kubernetes_deployer(task, tmp_path).deploy(sim_spec(task, {}), f"{task.name}-exp1", [0], 10)
    assert info.value.reason == "unavailable"
    assert "ClusterBaseModel nope-model does not exist" in info.value.message


def test_cancel_while_starting_removes_the_experiment(cluster, tmp_path):
    task = make_task(cluster)
    ns = task.kubernetes["namespace"]
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    with pytest.raises(DeploymentError) as info:
        make_kubernetes_deployer(task, tmp_path).deploy(sim_spec(task, {}, startup_seconds=60), f"{task.name}-exp1",
                                                        [0], 60, cancel)
    assert info.value.reason == "cancelled"
    assert leftovers(cluster, ns) == CLEAN


def test_an_object_of_the_same_name_that_is_not_ours_is_left_alone(cluster, tmp_path):
    task = make_task(cluster)
    ns = task.kubernetes["namespace"]
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    cluster.create({"apiVersion": "ome.io/v1beta1", "kind": "InferenceService",
                    "metadata": {"name": f"{task.name}-exp1", "namespace": ns},
                    "spec": {"model": {"name": "someone-elses"}, "engine": {"minReplicas": 1}}})
    with pytest.raises(DeploymentError) as info:
        make_kubernetes_deployer(task, tmp_path).deploy(sim_spec(task, {}), f"{task.name}-exp1", [0], 10)
    assert info.value.reason == "unavailable" and "is not this task's" in info.value.message
    assert [o["metadata"]["name"] for o in cluster.objects("inferenceservices", ns)] == [f"{task.name}-exp1"]


def test_an_unreachable_endpoint_says_which_setting_to_change(cluster, tmp_path, monkeypatch):
    from autotuner.deploy.kubernetes import lifecycle

    monkeypatch.setattr(lifecycle, "REACH_SECONDS", 0.5)
    task = make_task(cluster, endpoint="in-cluster")  # the test process is not in the cluster
    ns = task.kubernetes["namespace"]
    with pytest.raises(DeploymentError) as info:
        make_kubernetes_deployer(task, tmp_path).deploy(sim_spec(task, {}), f"{task.name}-exp1", [0], 30)
    assert info.value.reason == "unavailable"
    assert f"http://{task.name}-exp1.{ns}.svc.cluster.local/health does not answer" in info.value.message
    assert "kubernetes.endpoint" in info.value.message
    assert leftovers(cluster, ns) == CLEAN


def test_a_missing_kubeconfig_is_reported_as_unavailable(cluster, tmp_path):
    task = make_task(cluster, kubeconfig=str(tmp_path / "nope.yaml"))
    with pytest.raises(DeploymentError) as info:
        make_kubernetes_deployer(task, tmp_path).deploy(sim_spec(task, {}), f"{task.name}-exp1", [0], 10)
    assert info.value.reason == "unavailable"
    assert f"cannot load kubeconfig {tmp_path / 'nope.yaml'}" in info.value.message
    assert make_kubernetes_deployer(task, tmp_path).reap_leftovers() == []  # a warning, not a crash
