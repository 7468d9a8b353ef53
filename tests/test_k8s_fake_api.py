"""The fake API server behaves like a real one where the deployer depends on it: dry runs store
nothing, unknown fields are pruned (or refused with fieldValidation=Strict), schema errors are 422,
watches resume from a resource version, selectors filter, and credentials are checked."""

from __future__ import annotations

import copy
import json

import pytest

pytest.importorskip("kubernetes")
pytest.importorskip("jsonschema")

from kubernetes import client, config, watch  # noqa: E402

from .fake_k8s import FakeCluster, sample  # noqa: E402
from .fake_k8s.store import match_labels  # noqa: E402

GROUP, VERSION = "ome.io", "v1beta1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with FakeCluster(tmp_path_factory.mktemp("fake"), gpus=1) as fake:
        yield fake


@pytest.fixture(scope="module")
def api(cluster):
    return config.new_client_from_config(str(cluster.kubeconfig))


def message(error: Exception) -> str:
    return json.loads(error.body)["message"]


def runtime(name: str) -> dict:
    obj = copy.deepcopy(sample("runtimes_srt_meta_llama-3-2-1b-instruct-rt.yaml")[0])
    obj["metadata"]["name"] = name
    return obj


def test_dry_run_validates_but_stores_nothing(api, cluster):
    custom = client.CustomObjectsApi(api)
    returned = custom.create_cluster_custom_object(GROUP, VERSION, "clusterservingruntimes", runtime("dry"),
                                                   dry_run="All")
    assert returned["metadata"]["name"] == "dry"
    assert returned["spec"]["supportedModelFormats"][0]["modelFormat"]["operator"] == "Equal"  # CRD default
    assert cluster.objects("clusterservingruntimes") == []


def test_unknown_fields_are_pruned_or_refused_and_bad_values_are_422(api, cluster):
    custom = client.CustomObjectsApi(api)
    obj = runtime("pruned")
    obj["spec"]["engineConfig"]["runner"]["flags"] = ["--tp-size", "2"]
    with pytest.raises(client.ApiException) as strict:
        custom.create_cluster_custom_object(GROUP, VERSION, "clusterservingruntimes", obj, field_validation="Strict")
    assert strict.value.status == 400 and 'unknown field "spec.engineConfig.runner.flags"' in message(strict.value)
    stored = custom.create_cluster_custom_object(GROUP, VERSION, "clusterservingruntimes", obj)
    assert "flags" not in stored["spec"]["engineConfig"]["runner"]
    bad = runtime("bad")
    bad["spec"]["supportedModelFormats"][0]["priority"] = 0  # minimum: 1
    with pytest.raises(client.ApiException) as invalid:
        custom.create_cluster_custom_object(GROUP, VERSION, "clusterservingruntimes", bad)
    assert invalid.value.status == 422 and "spec.supportedModelFormats[0].priority" in message(invalid.value)
    with pytest.raises(client.ApiException) as exists:
        custom.create_cluster_custom_object(GROUP, VERSION, "clusterservingruntimes", runtime("pruned"))
    assert exists.value.status == 409


def test_watch_resumes_from_a_resource_version(api, cluster):
    core = client.CoreV1Api(api)
    first = core.create_namespaced_config_map("default", {"apiVersion": "v1", "kind": "ConfigMap",
                                                          "metadata": {"name": "one", "labels": {"k": "a"}}})
    core.create_namespaced_config_map("default", {"apiVersion": "v1", "kind": "ConfigMap",
                                                  "metadata": {"name": "two", "labels": {"k": "b"}}})
    events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=first.metadata.resource_version,
        timeout_seconds=1)]
    assert events == [("ADDED", "two")]
    selected = [e["object"].metadata.name for e in watch.Watch().stream(
        core.list_namespaced_config_map, "default", label_selector="k in (a)", timeout_seconds=1)]
    assert selected == ["one"]
    cluster.store.history.clear()  # as if the API server had compacted its history
    with pytest.raises(client.ApiException) as gone:
        list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version="1",
                                  timeout_seconds=1))
    assert gone.value.status == 410


def test_credentials_are_checked(cluster):
    cfg = client.Configuration()
    cfg.host = cluster.url
    with pytest.raises(client.ApiException) as denied:
        client.CoreV1Api(client.ApiClient(cfg)).list_namespace()
    assert denied.value.status == 401


def test_label_selector_terms():
    labels = {"app": "x", "tier": "db"}
    assert match_labels(labels, "app=x,tier!=web")
    assert match_labels(labels, "tier in (db, cache),!missing")
    assert not match_labels(labels, "app notin (x)")
    assert not match_labels(labels, "missing")
