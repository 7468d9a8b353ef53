"""Rendered manifests: valid against OME's real CRD schemas, nothing we set pruned, and each
experiment's own arguments in the engine container (the seed project ran one config for all)."""

from __future__ import annotations

import pytest
import yaml

pytest.importorskip("jsonschema")

from autotuner.deploy.kubernetes.argv import merge_flags, split_launch_spec, split_launcher  # noqa: E402
from autotuner.deploy.kubernetes.manifests import launch_spec_for, render  # noqa: E402
from autotuner.deploy.kubernetes.options import dns_name, label_value, parse_options  # noqa: E402
from autotuner.spec import task_from_dict  # noqa: E402

from .fake_k8s.kinds import DATA, load_crds  # noqa: E402
from .fake_k8s.schema import prepare, validate  # noqa: E402


def make_task(engine="sglang", model="meta-llama/Llama-3.2-1B-Instruct", **kubernetes):
    space = {"tp-size": [1, 2]} if engine == "sglang" else {"tensor-parallel-size": [1, 2]}
    return task_from_dict({"name": "k8s-task", "model": {"id": model}, "engine": engine,
                           "deployment": "kubernetes", "search": {"space": space},
                           "objective": {"maximize": "output_throughput"}, "kubernetes": kubernetes})


@pytest.fixture(scope="module")
def crds():
    return {r.kind: crd for r, crd in load_crds().items()}


def runner_of_sample(name):
    doc = yaml.safe_load((DATA / "samples" / name).read_text())
    return doc["spec"]["engineConfig"]["runner"]


def assert_kept(sent, stored, path="") -> None:
    """Every field we sent is in what the server stored, unchanged (defaults may add fields)."""
    if isinstance(sent, dict):
        assert isinstance(stored, dict), path
        for key, value in sent.items():
            assert key in stored, f"{path}.{key} was pruned"
            assert_kept(value, stored[key], f"{path}.{key}")
    elif isinstance(sent, list):
        assert len(sent) == len(stored), path
        for i, (a, b) in enumerate(zip(sent, stored)):
            assert_kept(a, b, f"{path}[{i}]")
    else:
        assert sent == stored, path


def assert_valid(doc, crds) -> None:
    crd = crds[doc["kind"]]
    stored, unknown = prepare(doc, crd)
    assert unknown == [], f"{doc['kind']} fields the API server would prune: {unknown}"
    assert validate(stored, crd) == []
    assert_kept(doc, stored)


def engine_args(isvc):
    runner = isvc["spec"]["engine"]["runner"]
    return runner.get("command", []) + runner["args"]


def test_sglang_presets_and_inference_service_validate_against_the_crds(crds):
    task = make_task(create_presets=True)
    docs = render(task, {"tp-size": 2, "mem-fraction-static": 0.8})
    assert [d["kind"] for d in docs] == ["ClusterBaseModel", "ClusterServingRuntime", "InferenceService"]
    for doc in docs:
        assert_valid(doc, crds)
    isvc = docs[-1]
    args = engine_args(isvc)
    assert args[:3] == ["python3", "-m", "sglang.launch_server"]
    assert args.count("--tp-size") == 1 and args[args.index("--tp-size") + 1] == "2"
    assert args[args.index("--mem-fraction-static") + 1] == "0.8"
    assert "$(MODEL_PATH)" in args  # the model comes from the ClusterBaseModel
    assert isvc["spec"]["engine"]["runner"]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert isvc["spec"]["model"]["name"] == docs[0]["metadata"]["name"]
    assert isvc["spec"]["runtime"]["name"] == docs[1]["metadata"]["name"]
    labels = isvc["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "autotuner"
    assert labels["autotuner.io/task"] == "k8s-task" and labels["autotuner.io/experiment"] == "k8s-task-preview"


def test_vllm_arguments_are_merged_over_the_sample_runtime(crds):
    task = make_task("vllm", base_model="llama-3-2-1b-instruct", runtime="vllm-llama-3-2-1b-instruct")
    sample = runner_of_sample("runtimes_vllm_llama-3-2-1b-instruct-rt.yaml")
    [isvc] = render(task, {"tensor-parallel-size": 2, "max-num-seqs": 64}, runtime_runner=sample)
    assert_valid(isvc, crds)
    args = engine_args(isvc)
    assert args[:3] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    assert args.count("--tensor-parallel-size") == 1 and args[args.index("--tensor-parallel-size") + 1] == "2"
    assert args[args.index("--max-num-seqs") + 1] == "64"
    assert args[args.index("--max-model-len") + 1] == "131072"  # the runtime's other flags stay
    assert args[args.index("--model") + 1] == "$(MODEL_PATH)"
    # the runtime serves "vllm-model"; the benchmark asks for the task's model name, so ours wins
    assert args.count("--served-model-name") == 1
    assert args[args.index("--served-model-name") + 1] == task.model.name


def test_two_experiments_render_two_configurations():
    task = make_task(create_presets=True)
    one = engine_args(render(task, {"tp-size": 1}, experiment="k8s-task-exp1")[-1])
    two = engine_args(render(task, {"tp-size": 2}, experiment="k8s-task-exp2")[-1])
    assert one[one.index("--tp-size") + 1] == "1" and two[two.index("--tp-size") + 1] == "2"


def test_schema_validation_and_pruning_catch_bad_manifests(crds):
    [isvc] = yaml.safe_load_all((DATA / "samples" / "samples_isvc_meta_llama-3-2-1b-instruct.yaml").read_text())
    isvc["spec"]["engine"]["minReplicas"] = "one"
    isvc["spec"]["engine"]["runner"] = {"arguments": ["--tp-size", "2"]}  # not a Container field
    stored, unknown = prepare(isvc, crds["InferenceService"])
    assert unknown == ["spec.engine.runner.arguments"]
    assert "arguments" not in stored["spec"]["engine"]["runner"]
    errors = validate(stored, crds["InferenceService"])
    assert any(e.startswith("spec.engine.minReplicas: Invalid value") for e in errors)


def test_plain_mode_renders_a_deployment_and_a_service():
    task = make_task(mode="deployment", image="registry.local/sglang:dev")
    deployment, service = render(task, {"tp-size": 2})
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.local/sglang:dev"
    assert container["command"] == ["python3", "-m", "sglang.launch_server"]
    args = container["args"]
    assert args[:2] == ["--model-path", task.model.id] and args[args.index("--tp-size") + 1] == "2"
    assert args[-4:] == ["--host", "0.0.0.0", "--port", "30000"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["port"] == 30000


def test_simulated_engine_runs_from_the_same_manifest_shape(crds):
    task = make_task(create_presets=True)
    isvc = render(task, {"tp-size": 2}, simulate={"gpu": "a100", "seed": 3})[-1]
    assert_valid(isvc, crds)
    runner = isvc["spec"]["engine"]["runner"]
    assert runner["command"] == ["python3", "-m", "autotuner.sim"]
    args = runner["args"]
    assert args[args.index("--personality") + 1] == "sglang" and args[args.index("--gpu") + 1] == "a100"
    assert args[args.index("--tp-size") + 1] == "2"


def test_benchmark_job_renders_the_workload_and_validates(crds):
    task = make_task(create_presets=True, benchmark_output="pvc://bench-results/autotuner")
    task.workload.concurrency = [1, 8]
    docs = render(task, {"tp-size": 2}, experiment="k8s-task-exp4")
    job = docs[-1]
    assert job["kind"] == "BenchmarkJob"
    assert_valid(job, crds)
    assert job["spec"]["endpoint"]["inferenceService"] == {"name": docs[-2]["metadata"]["name"],
                                                           "namespace": "autotuner"}
    assert job["spec"]["trafficScenarios"] == task.workload.scenarios
    assert job["spec"]["numConcurrency"] == [1, 8]
    assert job["spec"]["outputLocation"]["storageUri"] == "pvc://bench-results/autotuner/k8s-task-exp4"


def test_options_errors_name_the_field_and_the_allowed_values():
    with pytest.raises(ValueError, match=r"kubernetes.namespce: unknown option; allowed: mode, namespace"):
        parse_options({"namespce": "x"})
    with pytest.raises(ValueError, match=r"kubernetes.mode: .*'ome' or 'deployment'"):
        parse_options({"mode": "helm"})
    with pytest.raises(ValueError, match="kubernetes.runtime"):
        render(make_task(base_model="m"), {})
    with pytest.raises(ValueError, match="kubernetes.base_model"):
        render(make_task(runtime="r"), {})  # "meta-llama/..." is not a Kubernetes name


def test_names_and_labels_are_valid_for_kubernetes():
    assert dns_name("My_Task.v2-exp3") == "my-task-v2-exp3"
    assert dns_name("7b-run-exp1") == "at-7b-run-exp1"
    long = dns_name("x" * 100 + "-exp12")
    assert len(long) <= 45 and long != dns_name("x" * 100 + "-exp13")
    assert label_value("_odd name!") == "odd-name"
    assert len(label_value("y" * 80)) == 63


def test_launch_spec_split_and_flag_merge():
    task = make_task()
    command = split_launch_spec(launch_spec_for(task, {"tp-size": 2}, {"gpu": "h100", "seed": 0}))
    assert command.engine == "sglang" and command.model == task.model.id and command.simulated
    assert command.flags == ["--tp-size", "2"]
    vllm = split_launch_spec(launch_spec_for(make_task("vllm"), {"tp": 4}))
    assert vllm.model == "meta-llama/Llama-3.2-1B-Instruct" and vllm.flags == ["--tensor-parallel-size", "4"]
    # an alias in the runtime is replaced by the experiment's spelling
    assert merge_flags("sglang", ["--tensor-parallel-size", "1", "--enable-metrics"], ["--tp-size", "2"]) == \
        ["--enable-metrics", "--tp-size", "2"]
    assert split_launcher(["python3", "-m", "sglang.launch_server", "--port", "8080"]) == \
        (["python3", "-m", "sglang.launch_server"], ["--port", "8080"])
