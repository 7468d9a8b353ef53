"""TensorRT-LLM: the adapter's argv and extra-options YAML, validation with suggestions, the deployers'
per-experiment file, the simulated trtllm-serve (scheduler and memory), a virtual-time run of the
example, and the Kubernetes render against OME's CRDs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autotuner.deploy.docker_images import image_ref, mount_files, plan_container
from autotuner.engines import get_adapter
from autotuner.engines.catalog import validate_flags
from autotuner.engines.launch import argv_with_files
from autotuner.engines.preflight import flag_problems
from autotuner.sim.config import parse_engine_args
from autotuner.sim.engine import SimEngine
from autotuner.sim.errors import SimConfigError
from autotuner.spec import task_from_dict

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "trtllm-llama8b-h100.yaml"
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
CONFIG = {"tp": 2, "max_batch_size": 128, "kv_cache_free_gpu_memory_fraction": 0.85,
          "extra.cuda_graph_config.max_batch_size": 64, "extra.enable_chunked_prefill": "true",
          "extra.scheduler_config.capacity_scheduler_policy": "MAX_UTILIZATION", "kv_cache_dtype": "fp8"}


def task(**overrides):
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc.update(overrides)
    return task_from_dict(doc)


# ---- adapter ---------------------------------------------------------------------------------------

def test_argv_has_the_serve_flags_and_the_yaml_the_llm_api_options():
    spec = get_adapter("trtllm").launch_spec(MODEL, "llama", CONFIG)
    assert spec.argv == ["trtllm-serve", MODEL, "--tensor_parallel_size", "2", "--max_batch_size", "128",
                         "--kv_cache_free_gpu_memory_fraction", "0.85"]
    assert spec.num_gpus == 2 and spec.model_name == MODEL  # no served-name flag: served under MODEL
    [file] = spec.files
    assert file.flag == "--extra_llm_api_options"
    assert yaml.safe_load(file.content) == {
        "cuda_graph_config": {"max_batch_size": 64}, "enable_chunked_prefill": True,
        "kv_cache_config": {"dtype": "fp8"}, "scheduler_config": {"capacity_scheduler_policy": "MAX_UTILIZATION"}}


def test_gpus_are_tp_times_pp_and_no_yaml_without_extra_flags():
    adapter = get_adapter("trtllm")
    spec = adapter.launch_spec(MODEL, MODEL, {"tp_size": 2, "pp": 2, "ep": 4})
    assert spec.num_gpus == 4 and spec.files == []
    assert "--moe_expert_parallel_size" in spec.argv


def test_sub_fields_win_over_a_whole_object_and_conflicts_are_refused():
    adapter = get_adapter("trtllm")
    options = adapter.extra_options({"extra.kv_cache_config": {"dtype": "auto", "enable_block_reuse": False},
                                     "extra.kv_cache_config.dtype": "fp8"})
    assert options == {"kv_cache_config": {"dtype": "fp8", "enable_block_reuse": False}}
    with pytest.raises(ValueError, match="extra_llm_api_options"):
        adapter.launch_spec(MODEL, MODEL, {"config": "/tmp/x.yaml", "extra.max_seq_len": 4096})


def test_typos_in_serve_flags_and_llm_api_options_are_refused_with_the_closest_names():
    problems = validate_flags("trtllm", "1.2.1", {"max_batch_siz": 8, "extra.cuda_graph_config.max_batchsize": 8,
                                                  "extra.scheduler_config.capacity_scheduler_policy": "FAST"},
                              "search.space")
    assert "did you mean 'max_batch_size'" in problems[0]
    assert "did you mean 'extra.cuda_graph_config.max_batch_size'" in problems[1]
    assert "GUARANTEED_NO_EVICT" in problems[2] and "MAX_UTILIZATION" in problems[2]
    t = task(search={"space": {"extra.enable_chunked_prefil": [True, False]}})
    assert any("did you mean 'extra.enable_chunked_prefill'" in p for p in flag_problems(t))


def test_the_example_validates():
    assert flag_problems(task()) == []


def test_the_launch_command_writes_the_yaml_before_starting_trtllm_serve():
    from autotuner.report.results import launch_command
    text = launch_command(task(), {"max_batch_size": 64})
    head, command = text.rsplit("\n", 1)
    assert head.startswith("cat > extra-llm-api-options.yaml <<'EOF'") and head.endswith("EOF")
    assert yaml.safe_load(head.split("\n", 1)[1].rsplit("EOF", 1)[0]) == {"enable_chunked_prefill": True}
    assert command == (f"trtllm-serve {MODEL} --max_batch_size 64 "
                       "--extra_llm_api_options extra-llm-api-options.yaml")


# ---- deployers' file ---------------------------------------------------------------------------------

def test_local_argv_gets_the_written_yaml_path(tmp_path):
    spec = get_adapter("trtllm").launch_spec(MODEL, MODEL, CONFIG)
    argv = argv_with_files(spec.argv, spec.files, tmp_path, "exp1")
    path = Path(argv[argv.index("--extra_llm_api_options") + 1])
    assert path.parent == tmp_path and yaml.safe_load(path.read_text())["enable_chunked_prefill"] is True


def test_docker_runs_trtllm_serve_from_ngc_with_the_yaml_mounted(tmp_path):
    spec = get_adapter("trtllm").launch_spec(MODEL, MODEL, CONFIG)
    image = image_ref("trtllm", "1.2.1")
    assert image == "nvcr.io/nvidia/tensorrt-llm/release:1.2.1"
    plan = mount_files(plan_container(spec, image, tmp_path / "hf", environ={}), spec, tmp_path, "exp1")
    assert plan.command[:2] == ["trtllm-serve", MODEL]
    target = plan.command[plan.command.index("--extra_llm_api_options") + 1]
    host = next(h for h, v in plan.volumes.items() if v["bind"] == target)
    assert plan.volumes[host]["mode"] == "ro" and "MAX_UTILIZATION" in Path(host).read_text()


# ---- simulated trtllm-serve ----------------------------------------------------------------------------

def sim_engine(tmp_path, options: dict | None = None, *flags: str) -> SimEngine:
    argv = ["--personality", "trtllm", "--gpu", "h100", MODEL, *flags]
    if options is not None:
        path = tmp_path / "extra.yaml"
        path.write_text(yaml.safe_dump(options))
        argv += ["--extra_llm_api_options", str(path)]
    return SimEngine.from_argv(argv)


def test_the_yaml_overrides_the_command_line_and_unknown_keys_are_reported(tmp_path):
    engine = sim_engine(tmp_path, {"max_batch_size": 32, "cuda_graph_config": None, "speculative_config": {}},
                        "--max_batch_size", "256", "--max_num_tokens", "4096")
    cfg = engine.config
    assert cfg.max_running == 32 and cfg.max_batched_tokens == 4096 and cfg.cuda_graph is False
    assert cfg.schedule_policy == "GUARANTEED_NO_EVICT" and cfg.chunked_prefill is False
    assert "extra.speculative_config" in cfg.ignored


def test_bad_yaml_values_name_the_option_and_what_it_allows(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"scheduler_config": {"capacity_scheduler_policy": "FAST"}}))
    with pytest.raises(SimConfigError, match="capacity_scheduler_policy.*GUARANTEED_NO_EVICT, MAX_UTILIZATION"):
        parse_engine_args(["--personality", "trtllm", MODEL, "--extra_llm_api_options", str(path)])


def test_kv_cache_is_the_free_fraction_of_memory_after_weights(tmp_path):
    small = sim_engine(tmp_path, None, "--kv_cache_free_gpu_memory_fraction", "0.45").memory.kv_tokens
    large = sim_engine(tmp_path, None, "--kv_cache_free_gpu_memory_fraction", "0.9").memory.kv_tokens
    assert large == pytest.approx(2 * small, rel=0.01)
    capped = sim_engine(tmp_path, {"kv_cache_config": {"max_tokens": 10000}}).memory.kv_tokens
    assert 10000 <= capped < 10000 + 32


def drive(engine: SimEngine, prompts: int, prompt_len: int, out_len: int) -> tuple[list, int]:
    sched = engine.replicas[0]
    for i in range(prompts):
        sched.add(engine.make_request(f"r{i}", prompt_len, out_len, 0.0))
    now, peak, failed = 0.0, 0, []
    while not sched.idle:
        result = sched.step(now)
        now += result.duration or 1e-3
        peak = max(peak, sched.num_running)
        failed += result.failed
    return failed, peak


def test_guaranteed_no_evict_never_preempts_and_max_utilization_does_under_kv_pressure(tmp_path):
    tight = {"kv_cache_config": {"max_tokens": 8192}, "enable_chunked_prefill": True}
    no_evict = sim_engine(tmp_path, tight)
    failed, peak = drive(no_evict, 16, 512, 512)
    assert failed == [] and no_evict.stats().preemptions == 0 and peak <= 8192 // 1024
    greedy = sim_engine(tmp_path, {**tight, "scheduler_config": {"capacity_scheduler_policy": "MAX_UTILIZATION"}})
    failed, greedy_peak = drive(greedy, 16, 512, 512)
    assert failed == [] and greedy.stats().preemptions > 0 and greedy_peak > peak


def test_max_batch_size_caps_the_batch_and_long_prompts_need_chunked_context(tmp_path):
    engine = sim_engine(tmp_path, None, "--max_batch_size", "4")
    failed, peak = drive(engine, 12, 128, 16)
    assert failed == [] and peak == 4
    unchunked = sim_engine(tmp_path, None, "--max_num_tokens", "1024")
    failed, _ = drive(unchunked, 1, 2048, 4)
    assert failed and "max_num_tokens" in failed[0][1]
    chunked = sim_engine(tmp_path, {"enable_chunked_prefill": True}, "--max_num_tokens", "1024")
    assert drive(chunked, 1, 2048, 4)[0] == []


def test_noise_does_not_depend_on_where_the_yaml_was_written(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    configs = [sim_engine(tmp_path / d, {"max_batch_size": 8}).config for d in ("a", "b")]
    assert configs[0].argv == configs[1].argv


# ---- the example, end to end -----------------------------------------------------------------------------

def run_example(tmp_path: Path, *mode: str, budget: int = 3) -> tuple[subprocess.CompletedProcess, dict]:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["search"]["max_experiments"] = budget
    doc["workload"].update(concurrency=[32], num_requests=48, warmup_requests=2)
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "autotuner", "run", str(path), "--simulate", "h100", *mode,
                           "--db", str(tmp_path / "db.sqlite"), "--out", str(out)],
                          capture_output=True, text=True, timeout=500,
                          env={**os.environ, "AUTOTUNER_STATE_DIR": str(tmp_path / "state")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads((out / doc["name"] / "results.json").read_text())


def test_example_runs_to_a_best_in_virtual_time(tmp_path):
    proc, doc = run_example(tmp_path, "--virtual-time")
    assert all(e["status"] == "succeeded" for e in doc["experiments"])
    assert doc["best"] is not None and "best (experiment" in proc.stdout


@pytest.mark.slow
def test_example_runs_to_a_best_in_real_time_with_the_yaml_next_to_the_log(tmp_path):
    proc, doc = run_example(tmp_path, budget=2)
    assert doc["best"] is not None
    written = list((tmp_path / "runs").rglob("*.extra-llm-api-options.yaml"))
    assert written and yaml.safe_load(written[0].read_text())["enable_chunked_prefill"] is True


# ---- Kubernetes ----------------------------------------------------------------------------------------

def test_kubernetes_render_validates_against_the_ome_crds():
    pytest.importorskip("jsonschema")
    from autotuner.deploy.kubernetes.manifests import render
    from .fake_k8s.kinds import load_crds
    from .fake_k8s.schema import prepare, validate
    crds = {r.kind: crd for r, crd in load_crds().items()}
    docs = render(task(), {"max_batch_size": 256, "extra.cuda_graph_config.max_batch_size": 128})
    kinds = [d["kind"] for d in docs]
    assert kinds == ["ClusterBaseModel", "ClusterServingRuntime", "ConfigMap", "InferenceService"]
    for doc in docs:
        if doc["kind"] in crds:
            stored, unknown = prepare(doc, crds[doc["kind"]])
            assert unknown == [] and validate(stored, crds[doc["kind"]]) == [], doc["kind"]
    runtime, config, isvc = docs[1], docs[2], docs[3]
    assert runtime["spec"]["engineConfig"]["runner"]["image"] == "nvcr.io/nvidia/tensorrt-llm/release:1.2.1"
    runner = isvc["spec"]["engine"]["runner"]
    assert runner["command"] == ["trtllm-serve", "$(MODEL_PATH)"] and "--served-model-name" not in runner["args"]
    args = runner["args"]
    assert args[args.index("--max_batch_size") + 1] == "256"
    path = args[args.index("--extra_llm_api_options") + 1]
    mount = next(m for m in runner["volumeMounts"] if path.startswith(m["mountPath"]))
    volume = next(v for v in isvc["spec"]["engine"]["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == config["metadata"]["name"]
    assert yaml.safe_load(config["data"][Path(path).name])["cuda_graph_config"] == {"max_batch_size": 128}


def test_live_kubernetes_deployers_refuse_an_experiment_needing_the_yaml_with_what_to_do():
    from autotuner.deploy.kubernetes.config_files import refuse_files
    refuse_files(get_adapter("trtllm").launch_spec(MODEL, MODEL, {"max_batch_size": 8}))  # no file: fine
    with pytest.raises(ValueError, match="--extra_llm_api_options.*autotuner render"):
        refuse_files(get_adapter("trtllm").launch_spec(MODEL, MODEL, CONFIG))


def test_the_real_trtllm_serve_parser_accepts_the_argv_and_the_yaml(tmp_path):
    serve = pytest.importorskip(
        "tensorrt_llm.commands.serve", reason="tensorrt-llm is not installed: its PyPI wheel is a stub that "
        "downloads from pypi.nvidia.com, unreachable here; run in an environment with tensorrt-llm 1.2.1")
    from tensorrt_llm.llmapi.llm_args import TorchLlmArgs
    spec = get_adapter("trtllm").launch_spec(MODEL, MODEL, CONFIG)
    argv = argv_with_files(spec.argv[1:], spec.files, tmp_path, "exp") + ["--host", "0.0.0.0", "--port", "8000"]
    context = serve.serve.make_context("trtllm-serve", argv)  # click: raises UsageError on a bad flag
    assert context.params["max_batch_size"] == 128
    options = yaml.safe_load(spec.files[0].content)
    assert set(options) <= set(TorchLlmArgs.model_fields)
    for key, value in options.items():
        kind = TorchLlmArgs.model_fields[key].annotation
        for candidate in getattr(kind, "__args__", (kind,)):
            if isinstance(value, dict) and hasattr(candidate, "model_validate"):
                candidate.model_validate(value)  # pydantic: raises on an unknown or mistyped sub-field


def test_the_simulated_render_passes_the_model_positional_to_the_twin():
    from autotuner.deploy.kubernetes.manifests import render
    isvc = render(task(), {"max_batch_size": 64}, simulate={"gpu": "h100"})[-1]
    runner = isvc["spec"]["engine"]["runner"]
    assert runner["command"] == ["python3", "-m", "autotuner.sim"]
    args = [a for a in runner["args"]]
    cut = args.index("--extra_llm_api_options")
    cfg = parse_engine_args(args[:cut] + args[cut + 2:])
    assert cfg.personality == "trtllm" and cfg.model == "$(MODEL_PATH)" and cfg.max_running == 64


def test_the_twin_prices_trtllm_steps_from_trtllm_kernel_tables(tmp_path):
    engine = sim_engine(tmp_path, None)
    assert "aiconfigurator" in (engine.cost_note or "") and "trtllm" in engine.cost_note
