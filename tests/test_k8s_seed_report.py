"""The seed project's OME orchestration test report, as an automated test against the fake cluster:
create an InferenceService for ``llama-3-2-1b-instruct`` in namespace ``autotuner``, read its status
(``EngineReady``, ``IngressReady``, ``Ready``, ``modelStatus``), delete it, and the namespace holds
nothing of ours. Unlike the report's Minikube, the fake's GPU node runs the (simulated) engine, so the
InferenceService also becomes Ready."""

from __future__ import annotations

import urllib.request

import pytest

kubernetes = pytest.importorskip("kubernetes")
pytest.importorskip("jsonschema")

from kubernetes import client, config, watch  # noqa: E402

from .fake_k8s import FakeCluster  # noqa: E402
from .fake_k8s.helpers import load_llama_samples  # noqa: E402

GROUP, VERSION, PLURAL = "ome.io", "v1beta1", "inferenceservices"
REPORT_ISVC = {  # the report's manifest, word for word
    "apiVersion": "ome.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "test-ome-orchestration", "namespace": "autotuner"},
    "spec": {"model": {"name": "llama-3-2-1b-instruct"}, "engine": {"minReplicas": 1, "maxReplicas": 1}},
}


@pytest.fixture
def cluster(tmp_path):
    with FakeCluster(tmp_path, gpus=1, namespaces=("default", "autotuner")) as fake:
        load_llama_samples(fake)
        yield fake


def conditions(obj):
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def test_inference_service_lifecycle_from_the_seed_report(cluster):
    api = config.new_client_from_config(str(cluster.kubeconfig))
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)

    # 1. creation
    created = custom.create_namespaced_custom_object(GROUP, VERSION, "autotuner", PLURAL, REPORT_ISVC)
    assert created["metadata"]["name"] == "test-ome-orchestration"
    assert created["metadata"]["namespace"] == "autotuner"

    # 2. status retrieval: first what the report saw (initializing), then Ready
    seen = []
    w = watch.Watch()
    for event in w.stream(custom.list_namespaced_custom_object, GROUP, VERSION, "autotuner", PLURAL,
                          field_selector="metadata.name=test-ome-orchestration", timeout_seconds=30):
        seen.append(event["raw_object"])
        if conditions(event["raw_object"]).get("Ready", {}).get("status") == "True":
            w.stop()
    assert conditions(seen[-1]).get("Ready", {}).get("status") == "True", cluster.describe()
    first = next(o for o in seen if o.get("status"))
    assert {t: (c["status"], c.get("reason")) for t, c in conditions(first).items()} == {
        "EngineReady": ("False", "Initializing"), "IngressReady": ("False", "ComponentNotReady"),
        "Ready": ("False", "ComponentNotReady")}
    assert first["status"]["modelStatus"] == {
        "modelRevisionStates": {"activeModelState": "", "targetModelState": "Pending"},
        "transitionStatus": "InProgress"}
    assert first["status"]["components"]["engine"]["latestCreatedRevision"] == "1"

    status = custom.get_namespaced_custom_object(GROUP, VERSION, "autotuner", PLURAL,
                                                 "test-ome-orchestration")["status"]
    assert all(c["status"] == "True" for c in conditions({"status": status}).values())
    assert set(conditions({"status": status})) == {"EngineReady", "IngressReady", "Ready"}
    assert status["modelStatus"]["modelRevisionStates"]["activeModelState"] == "Loaded"
    assert status["url"] == "http://test-ome-orchestration.autotuner.svc.cluster.local"
    # the model came from the ClusterBaseModel; the runtime was auto-selected (the vLLM sample)
    url = custom.get_namespaced_custom_object(GROUP, VERSION, "autotuner", PLURAL, "test-ome-orchestration")[
        "metadata"]["annotations"]["autotuner.io/reachable-url"]
    with urllib.request.urlopen(f"{url}/v1/models", timeout=5) as response:
        assert b"vllm-model" in response.read()

    # 3. cleanup: delete, watch until DELETED, nothing left
    pods_before = core.list_namespaced_pod("autotuner").items
    assert len(pods_before) == 1 and cluster.running_engines() == 1
    custom.delete_namespaced_custom_object(GROUP, VERSION, "autotuner", PLURAL, "test-ome-orchestration")
    deleted = False
    for event in watch.Watch().stream(custom.list_namespaced_custom_object, GROUP, VERSION, "autotuner", PLURAL,
                                      resource_version=created["metadata"]["resourceVersion"], timeout_seconds=15):
        if event["type"] == "DELETED":
            deleted = True
            break
    assert deleted
    assert custom.list_namespaced_custom_object(GROUP, VERSION, "autotuner", PLURAL)["items"] == []
    assert core.list_namespaced_pod("autotuner").items == []
    assert core.list_namespaced_service("autotuner").items == []
    assert client.AppsV1Api(api).list_namespaced_deployment("autotuner").items == []
    assert cluster.running_engines() == 0
    assert cluster.errors == []
