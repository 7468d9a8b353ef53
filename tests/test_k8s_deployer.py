"""The Kubernetes deployer end to end on the fake cluster with the simulated engine: deploy, a real HTTP
request to the endpoint, stop, and nothing of ours left; OME and plain mode; threads in parallel."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

pytest.importorskip("kubernetes")
pytest.importorskip("jsonschema")

from autotuner.deploy.kubernetes import (allocatable_gpus, cleanup_task, make_kubernetes_deployer,  # noqa: E402
                                         render)
from autotuner.deploy.kubernetes.ome import OmeDeployer  # noqa: E402
from autotuner.deploy.kubernetes.plain import PlainDeployer  # noqa: E402

from .fake_k8s import FakeCluster  # noqa: E402
from .fake_k8s.helpers import leftovers, load_llama_samples, make_task, sim_spec  # noqa: E402


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with FakeCluster(tmp_path_factory.mktemp("k8s"), gpus=4) as fake:
        load_llama_samples(fake)
        yield fake
        assert fake.errors == []


def chat(deployment, words: int = 6) -> dict:
    body = json.dumps({"model": deployment.endpoint.model_name, "max_tokens": words,
                       "messages": [{"role": "user", "content": "say something"}]}).encode()
    request = urllib.request.Request(f"{deployment.endpoint.base_url}/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def engine_args(cluster, namespace: str) -> list[list[str]]:
    return [p["spec"]["containers"][0]["command"] + p["spec"]["containers"][0]["args"]
            for p in cluster.objects("pods", namespace)]


def test_ome_experiment_serves_its_own_configuration_and_leaves_nothing(cluster, tmp_path):
    task = make_task(cluster)
    ns = task.kubernetes["namespace"]
    deployer = make_kubernetes_deployer(task, tmp_path)
    assert isinstance(deployer, OmeDeployer)
    with deployer.deploy(sim_spec(task, {"tp-size": 2}), f"{task.name}-exp1", [0, 1], 30) as deployment:
        assert deployment.gpus == [0, 1]
        reply = chat(deployment)
        assert reply["usage"]["completion_tokens"] == 6
        [args] = engine_args(cluster, ns)
        assert args[args.index("--tp-size") + 1] == "2"  # this experiment's flags reached the engine
        isvc = cluster.objects("inferenceservices", ns)[0]
        assert isvc["spec"]["engine"]["runner"]["resources"]["limits"]["nvidia.com/gpu"] == "2"
        assert isvc["metadata"]["labels"]["autotuner.io/experiment"] == f"{task.name}-exp1"
        assert "Ready" in deployment.log_tail(20) or "ready" in deployment.log_tail(20)
    assert leftovers(cluster, ns) == {"inferenceservices": [], "deployments": [], "services": [], "pods": []}
    log_text = deployment.log_path.read_text()
    assert "kind: InferenceService" in log_text and "--- engine log ---" in log_text
    deployment.stop()  # idempotent


def test_named_runtime_is_read_from_the_cluster_and_merged(cluster, tmp_path):
    task = make_task(cluster, create_presets=False, base_model="llama-3-2-1b-instruct",
                     runtime="srt-llama-3-2-1b-instruct")
    ns = task.kubernetes["namespace"]
    deployer = make_kubernetes_deployer(task, tmp_path)
    with deployer.deploy(sim_spec(task, {"mem-fraction-static": 0.7}), f"{task.name}-exp1", [0], 30) as deployment:
        assert chat(deployment, 3)["usage"]["completion_tokens"] == 3
        [args] = engine_args(cluster, ns)
        assert args[args.index("--mem-fraction-static") + 1] == "0.7"
        assert args[args.index("--model-path") + 1] == "$(MODEL_PATH)"  # the ClusterBaseModel's weights
        [engine] = [e for (pod_ns, _), e in cluster.kubelet.engines.items() if pod_ns == ns]
        assert engine.argv[engine.argv.index("--model-path") + 1] == "meta-llama/Llama-3.2-1B-Instruct"
        assert "--enable-metrics" in args  # the runtime's own flags stay
    assert cluster.objects("clusterservingruntimes", labels="autotuner.io/task=" + task.name) == []
    assert leftovers(cluster, ns)["inferenceservices"] == []


def test_plain_deployment_through_a_port_forward(cluster, tmp_path):
    task = make_task(cluster, mode="deployment", endpoint="port-forward")
    ns = task.kubernetes["namespace"]
    deployer = make_kubernetes_deployer(task, tmp_path)
    assert isinstance(deployer, PlainDeployer)
    with deployer.deploy(sim_spec(task, {"tp-size": 1}), f"{task.name}-exp7", [0], 30) as deployment:
        service = cluster.objects("services", ns)[0]
        forwarded = deployment.endpoint.base_url
        assert forwarded != service["metadata"]["annotations"]["autotuner.io/reachable-url"]
        assert chat(deployment, 4)["usage"]["completion_tokens"] == 4
        assert chat(deployment, 2)["usage"]["completion_tokens"] == 2  # a second connection
    assert leftovers(cluster, ns) == {"inferenceservices": [], "deployments": [], "services": [], "pods": []}


def test_parallel_experiments_from_threads_do_not_interfere(cluster, tmp_path):
    task = make_task(cluster)
    ns = task.kubernetes["namespace"]
    deployer = make_kubernetes_deployer(task, tmp_path)
    results: dict[str, object] = {}

    def run(name: str, tp: int) -> None:
        try:
            results[name] = deployer.deploy(sim_spec(task, {"tp-size": tp}), name, list(range(tp)), 30)
        except Exception as e:  # reported below
            results[name] = e

    threads = [threading.Thread(target=run, args=(f"{task.name}-exp{tp}", tp)) for tp in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    one, two = results[f"{task.name}-exp1"], results[f"{task.name}-exp2"]
    try:
        assert not isinstance(one, Exception) and not isinstance(two, Exception), (one, two, cluster.describe())
        assert one.endpoint.base_url != two.endpoint.base_url
        assert chat(one)["usage"]["completion_tokens"] == 6 and chat(two)["usage"]["completion_tokens"] == 6
        tp_by_experiment = {}
        for pod in cluster.objects("pods", ns):
            args = pod["spec"]["containers"][0]["args"]
            tp_by_experiment[pod["metadata"]["labels"]["autotuner.io/experiment"]] = args[args.index("--tp-size") + 1]
        assert tp_by_experiment == {f"{task.name}-exp1": "1", f"{task.name}-exp2": "2"}
        assert len(cluster.objects("clusterservingruntimes", labels=f"autotuner.io/task={task.name}")) == 1
        one.stop()
        assert chat(two)["usage"]["completion_tokens"] == 6  # stopping one leaves the other serving
    finally:
        for d in (one, two):
            if not isinstance(d, Exception):
                d.stop()
    assert leftovers(cluster, ns)["pods"] == []


def test_leftovers_of_a_killed_tuner_are_reaped_and_cleanup_removes_presets(cluster, tmp_path):
    task = make_task(cluster)
    ns = task.kubernetes["namespace"]
    killed = make_kubernetes_deployer(task, tmp_path)
    killed.deploy(sim_spec(task, {"tp-size": 1}), f"{task.name}-exp1", [0], 30)  # never stopped
    other = make_task(cluster, namespace=ns)
    make_kubernetes_deployer(other, tmp_path).deploy(sim_spec(other, {}), f"{other.name}-exp1", [0], 30)
    # One experiment taken back from a dead worker: only its objects go.
    assert make_kubernetes_deployer(task, tmp_path).reap_leftovers(f"{task.name}-exp9") == []
    assert len(cluster.objects("inferenceservices", ns)) == 2
    reaped = make_kubernetes_deployer(task, tmp_path).reap_leftovers(f"{task.name}-exp1")
    assert reaped == [f"InferenceService {ns}/{task.name}-exp1 (experiment {task.name}-exp1)"]
    remaining = [o["metadata"]["name"] for o in cluster.objects("inferenceservices", ns)]
    assert remaining == [f"{other.name}-exp1"]  # another task's experiment is not ours to remove
    removed = cleanup_task(task)
    assert sorted(removed) == [f"ClusterBaseModel {task.name}-model", f"ClusterServingRuntime {task.name}-sglang"]
    assert cluster.objects("clusterbasemodels", labels=f"autotuner.io/task={task.name}") == []
    assert len(cleanup_task(other)) == 3  # its experiment and presets
    assert leftovers(cluster, ns)["pods"] == []


def test_allocatable_gpus_and_render_agree_with_the_cluster(cluster):
    task = make_task(cluster)
    deployer = make_kubernetes_deployer(task, "/tmp")
    assert allocatable_gpus(deployer.kube) == 4
    assert allocatable_gpus(deployer.kube.api) == 4
    isvc = render(task, {"tp-size": 2})[-1]
    assert isvc["metadata"]["namespace"] == task.kubernetes["namespace"]


def test_the_tuners_experiment_runner_benchmarks_through_the_kubernetes_deployer(cluster, tmp_path):
    """What ``service/session.py`` will do with ``make_kubernetes_deployer``: one experiment, measured."""
    from autotuner.engines import get_adapter
    from autotuner.search.runners import DeployedRunner

    task = make_task(cluster)
    task.workload.num_requests, task.workload.concurrency, task.workload.scenarios = 6, [2], ["D(32,8)"]
    deployer = make_kubernetes_deployer(task, tmp_path)
    runner = DeployedRunner(task, get_adapter(task.engine), deployer,
                            {"gpu": "h100", "seed": 0, "startup_seconds": 0.1}, seed=0)
    phases = []
    outcome = runner.run({"tp-size": 2}, [0, 1], f"{task.name}-exp1", phases.append, lambda level: True,
                         threading.Event())
    assert outcome.ok, outcome.error
    [level] = outcome.levels
    assert level["metrics"]["num_requests"] == 6 and level["metrics"]["success_rate"] == 1.0
    assert phases == ["deploying", "benchmarking", "tearing down"]
    assert leftovers(cluster, task.kubernetes["namespace"]) == {
        "inferenceservices": [], "deployments": [], "services": [], "pods": []}


def test_kubeconfig_comes_from_the_environment_when_the_task_names_none(cluster, monkeypatch):
    from autotuner.deploy.kubernetes.client import Kube
    from autotuner.deploy.kubernetes.options import parse_options

    monkeypatch.setenv("KUBECONFIG", f"{cluster.kubeconfig}:/nonexistent/extra-config")
    kube = Kube.connect(parse_options({}))
    assert kube.api.configuration.host == cluster.url
    assert allocatable_gpus(kube) == 4
