"""Fast engine starts: the random-weight policy, the cache environment in every deployer, the modelled
start-up, search.parallel auto, and the confirmation of the best with its real weights."""

from __future__ import annotations

import pytest

from autotuner.deploy.docker_images import plan_container
from autotuner.deploy.gpu_pool import GpuPool
from autotuner.deploy.kubernetes.manifests import plain_deployment
from autotuner.deploy.kubernetes.options import parse_options
from autotuner.engines import get_adapter
from autotuner.search import fast_start
from autotuner.search.runners import VirtualRunner
from autotuner.search.tuner import Tuner
from autotuner.service.session import RunOptions, prepare_task
from autotuner.sim.startup import cache_key, model_startup
from autotuner.spec import task_from_dict
from autotuner.store import Store

SPACES = {"sglang": {"tp-size": [1, 2], "mem-fraction-static": [0.8, 0.9]},
          "vllm": {"tensor-parallel-size": [1, 2], "gpu-memory-utilization": [0.8, 0.9]},
          "trtllm": {"tp_size": [1, 2]}}


def make_task(engine="sglang", model="meta-llama/Llama-3.1-8B-Instruct", tmp_path=None, **extra):
    doc = {"name": "fast", "model": model, "engine": engine, "gpus": 4,
           "search": {"space": dict(SPACES[engine]), "max_experiments": 4, "baseline": False},
           "objective": {"maximize": "output_throughput_per_gpu"},
           "workload": {"scenarios": ["D(128,32)"], "concurrency": [4, 8], "num_requests": 16}}
    if tmp_path is not None:
        doc["fast_start"] = {"cache_dir": str(tmp_path / "cache")}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return task_from_dict(doc)


@pytest.mark.parametrize("engine", ["sglang", "vllm"])
def test_auto_turns_random_weights_on_for_a_dense_model_with_fixed_output_lengths(engine, tmp_path):
    task = make_task(engine, tmp_path=tmp_path)
    on, reason = fast_start.dummy_weights(task)
    assert on and "fixed" in reason
    spec = fast_start.apply(get_adapter(engine).launch_spec(task.model.id, task.model.name, {}), task)
    assert spec.argv[-2:] == ["--load-format", "dummy"]
    real = fast_start.apply(get_adapter(engine).launch_spec(task.model.id, task.model.name, {}), task,
                            real_weights=True)
    assert "--load-format" not in real.argv


@pytest.mark.parametrize("extra, why", [
    ({"search": {"space": {"tp-size": [1, 2], "speculative-algorithm": ["EAGLE"]}}}, "speculative"),
    ({"fixed_args": {"speculative-num-steps": 3}}, "speculative"),
    ({"model": "Qwen/Qwen3-30B-A3B"}, "mixture-of-experts"),
    ({"model": "someone/unknown-model"}, "no known shape"),
    ({"benchmark": {"runner": "ome-benchmarkjob"}}, "BenchmarkJob"),
])
def test_auto_keeps_the_real_weights_when_the_objective_could_depend_on_them(extra, why):
    on, reason = fast_start.dummy_weights(make_task("sglang", **extra))
    assert not on and why in reason


def test_on_and_off_are_obeyed_and_on_is_refused_where_no_random_weights_exist():
    assert fast_start.dummy_weights(make_task(fast_start={"dummy_weights": "off"}))[0] is False
    forced = fast_start.dummy_weights(make_task(model="Qwen/Qwen3-30B-A3B", fast_start={"dummy_weights": "on"}))
    assert forced[0] is True and "although a mixture-of-experts" in forced[1]
    assert fast_start.dummy_weights(make_task("trtllm"))[0] is False  # auto: quietly off
    with pytest.raises(fast_start.FastStartError, match=r"fast_start.dummy_weights: on .* trtllm.*allowed: auto, off"):
        fast_start.dummy_weights(make_task("trtllm", fast_start={"dummy_weights": "on"}))


def test_the_simulated_engine_with_a_fixed_start_up_keeps_real_weights_and_one_experiment_at_a_time():
    task = make_task()
    assert fast_start.dummy_weights(task, {"gpu": "h100"})[0] is False
    assert fast_start.dummy_weights(task, {"gpu": "h100", "startup": "modelled"})[0] is True
    assert fast_start.parallel_slots(task, 4, {"gpu": "h100"}) == 1
    assert fast_start.parallel_slots(task, 4) == 4  # tp 1 is the smallest: four fit four GPUs
    assert fast_start.parallel_slots(make_task(search={"space": {"tp-size": [2, 4]}}), 8) == 4
    assert fast_start.parallel_slots(make_task(search={"parallel": 1}), 8) == 1


def test_plan_lines_print_the_reason_and_each_caveat(tmp_path):
    task = make_task(tmp_path=tmp_path)
    p = fast_start.plan(task)
    lines = fast_start.fast_start_lines({"dummy_weights": p.dummy_weights, "reason": p.reason,
                                         "cache_dir": p.cache_dir, "caveats": p.caveats, "parallel": 4})
    text = "\n".join(lines)
    assert "random weights (--load-format dummy)" in text and "caveat: random weights" in text
    assert str(tmp_path / "cache") in text and "4 experiments at once" in text


@pytest.mark.parametrize("engine, variable", [("vllm", "VLLM_CACHE_ROOT"), ("sglang", "TORCHINDUCTOR_CACHE_DIR")])
def test_the_cache_directory_reaches_local_docker_and_kubernetes_engines(engine, variable, tmp_path):
    task = make_task(engine, tmp_path=tmp_path, deployment="kubernetes", kubernetes={"mode": "deployment"})
    spec = fast_start.apply(get_adapter(engine).launch_spec(task.model.id, task.model.name, {}), task)
    path = spec.env[variable]
    assert path.startswith(str(tmp_path / "cache" / engine)) and (tmp_path / "cache").is_dir()
    plan = plan_container(spec, "image:tag", hf_cache=tmp_path / "hf", environ={})
    assert plan.volumes[path] == {"bind": path, "mode": "rw"} and plan.environment[variable] == path
    deployment = plain_deployment(task, parse_options(task.kubernetes), spec, "fast-exp1")  # what the deployer applies
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert {"name": variable, "value": path} in container["env"]
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    host = {v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert path in mounted and path in host
    assert container["args"][container["args"].index("--load-format") + 1] == "dummy"


def test_no_compile_cache_means_no_cache_environment(tmp_path):
    task = make_task(tmp_path=tmp_path, fast_start={"compile_cache": False, "cache_dir": str(tmp_path)})
    assert fast_start.cache_env(task) == {} and fast_start.plan(task).cache_dir is None


def test_modelled_start_up_splits_load_compile_and_graphs():
    cold = model_startup("meta-llama/Llama-3.1-70B-Instruct", 4, dummy_weights=False, cache_hit=False)
    assert 160 < cold.total < 200  # issue 17's table: 70B about 180 s
    dummy = model_startup("meta-llama/Llama-3.1-70B-Instruct", 4, dummy_weights=True, cache_hit=False)
    warm = model_startup("meta-llama/Llama-3.1-70B-Instruct", 4, dummy_weights=True, cache_hit=True)
    assert dummy.load < 3 < cold.load and dummy.compile == cold.compile
    assert warm.compile < 0.2 * cold.compile and warm.graphs == cold.graphs  # CUDA graphs are not cached
    small = model_startup("meta-llama/Llama-3.1-8B-Instruct", 1, dummy_weights=False, cache_hit=False)
    assert small.total < cold.total / 2


def test_cache_key_follows_what_shapes_the_compiled_graph():
    base = cache_key("sglang", "m", {"tp-size": 2, "mem-fraction-static": 0.8})
    assert base == cache_key("sglang", "m", {"tp-size": 2, "mem-fraction-static": 0.9, "max-running-requests": 8})
    assert base != cache_key("sglang", "m", {"tp-size": 4, "mem-fraction-static": 0.8})
    assert base != cache_key("sglang", "other", {"tp-size": 2})
    vllm = cache_key("vllm", "m", {"tensor-parallel-size": 2, "max-num-batched-tokens": 1024})
    assert vllm != cache_key("vllm", "m", {"tensor-parallel-size": 2, "max-num-batched-tokens": 4096})


class RecordingRunner(VirtualRunner):
    """The virtual runner, noting for each run whether it had to load the real weights."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.runs: list[tuple[str, bool, float]] = []

    def run(self, params, gpus, name, on_phase, on_level, cancel):
        out = super().run(params, gpus, name, on_phase, on_level, cancel)
        self.runs.append((name, fast_start.REAL_WEIGHTS.get(), out.timings.get("startup", 0.0)))
        return out


def test_the_best_of_a_random_weight_search_is_measured_again_with_its_real_weights(tmp_path):
    task = make_task(tmp_path=tmp_path, search={"strategy": "grid", "parallel": 1},
                     simulate={"gpu": "h100", "virtual_time": True, "startup": "modelled"})
    store = Store("sqlite://")
    task_id = prepare_task(store, task, RunOptions())
    simulate = {**task.simulate.model_dump(), "seed": 0}
    runner = RecordingRunner(task, get_adapter(task.engine), simulate)
    events = []
    Tuner(task, store, task_id, runner, GpuPool([0, 1, 2, 3]), on_event=lambda k, d: events.append((k, d))).run()
    assert [real for _, real, _ in runner.runs] == [False] * 4 + [True]
    last, real, startup = runner.runs[-1]
    assert last.endswith("real") and startup > min(s for _, _, s in runner.runs[:-1])  # it loads the weights
    plan = next(d for k, d in events if k == "fast_start")
    assert plan["dummy_weights"] and plan["caveats"]
    best = max((e for e in store.experiments(task_id) if e.score is not None), key=lambda e: e.score)
    assert best.extra["full_confirmation"]["real_weights"] is True
    confirmed = [d for k, d in events if k == "experiment_confirmed"]
    assert confirmed and confirmed[-1]["real_weights"] and confirmed[-1]["full"]
    # each cache key compiles once: the second start-up of a key is faster than its first
    starts = sorted(s for _, _, s in runner.runs[:-1])  # two keys (tp 1, tp 2), two configurations each
    assert starts[1] < 0.7 * starts[2] and runner.runs[0][2] in starts[2:]  # the first one compiled


def test_the_simulated_engine_pays_its_modelled_start_up_and_hits_its_cache_the_second_time(tmp_path):
    from autotuner.sim.engine import SimEngine
    from autotuner.sim.startup import simulated_startup

    argv = ["--personality", "vllm", "--gpu", "h100", "--startup-model", "meta-llama/Llama-3.1-8B-Instruct",
            "--max-num-seqs", "64"]
    env = {"VLLM_CACHE_ROOT": str(tmp_path / "vllm")}
    cold, line = simulated_startup(SimEngine.from_argv(argv), env)
    assert "cache miss" in line and "real weights" in line and cold == pytest.approx(
        model_startup("meta-llama/Llama-3.1-8B-Instruct", 1, False, False).total)
    warm, line = simulated_startup(SimEngine.from_argv(argv + ["--max-num-seqs", "128"]), env)  # same graph
    assert "cache hit" in line and warm < cold
    fast, line = simulated_startup(SimEngine.from_argv(argv + ["--load-format", "dummy"]), env)
    assert "dummy weights" in line and fast < warm
    other, line = simulated_startup(SimEngine.from_argv(argv + ["--max-num-batched-tokens", "1024"]), env)
    assert "cache miss" in line  # another compile range: another cache entry
    assert "--startup-model" in get_adapter("vllm").launch_spec("m", "m", {}, {"startup": "modelled"}).argv


def test_nothing_is_printed_or_cached_on_the_simulated_engine_with_its_fixed_start_up(tmp_path):
    task = make_task(tmp_path=tmp_path)
    p = fast_start.plan(task, {"gpu": "h100"})
    assert not p.dummy_weights and p.env == {} and p.cache_dir is None
    assert fast_start.fast_start_lines({"dummy_weights": False, "reason": p.reason, "fixed_simulation": True}) == []
