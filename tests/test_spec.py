"""The task spec: valid files load, invalid ones name the field and the allowed values."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from autotuner.cli.main import app
from autotuner.spec import SpecError, load_task, parse_scenario, task_from_dict
from autotuner.spec.scenarios import RequestShape

DATA = Path(__file__).parent / "data"
BASE = {
    "name": "t",
    "model": "Qwen/Qwen3-8B",
    "engine": "sglang",
    "search": {"strategy": "grid", "space": {"mem-fraction-static": [0.8, 0.9]}},
    "objective": {"maximize": "output_throughput_per_gpu"},
    "slo": {"ttft_p90": 1.0},
}


def with_(**changes):
    data = {**BASE, **changes}
    return data


def problems(data) -> str:
    with pytest.raises(SpecError) as e:
        task_from_dict(data)
    return str(e.value)


def test_valid_task_and_defaults():
    task = task_from_dict(BASE)
    assert task.model.id == "Qwen/Qwen3-8B" and task.model.name == "Qwen/Qwen3-8B"
    assert task.objective.metric == "output_throughput_per_gpu" and task.objective.maximize
    assert task.workload.concurrency == [8] and task.workload.num_requests == 100
    assert task.gpu_ids == [0]


def test_wrong_type_names_the_field():
    msg = problems(with_(search={**BASE["search"], "max_experiments": "many"}))
    assert "search.max_experiments" in msg


def test_unknown_strategy_lists_the_allowed_ones():
    msg = problems(with_(search={**BASE["search"], "strategy": "annealing"}))
    assert "search.strategy" in msg and "'grid'" in msg and "'bayesian'" in msg and "annealing" in msg


def test_empty_space_and_empty_value_list():
    assert "search.space" in problems(with_(search={"strategy": "grid", "space": {}}))
    assert "search.space.mem-fraction-static" in problems(
        with_(search={"strategy": "grid", "space": {"mem-fraction-static": []}}))


def test_unknown_metric_in_objective_and_slo():
    msg = problems(with_(objective={"maximize": "speed"}, slo={"ttft_p91": 1}))
    assert "speed" in msg and "output_throughput" in msg and "ttft_p91" in msg


def test_bad_engine_scenario_and_unknown_field():
    msg = problems(with_(engine="tgi", workload={"scenarios": ["X(1)"]}, colour="red"))
    assert "engine" in msg and "'sglang'" in msg
    assert "workload.scenarios" in msg and "D(in,out)" in msg
    assert "colour: unknown field" in msg


def test_ranges_and_steps():
    task = task_from_dict(with_(search={"strategy": "grid", "space": {
        "max-running-requests": {"low": 16, "high": 64, "step": 16},
        "mem-fraction-static": {"low": 0.7, "high": 0.9, "step": 0.1}}}))
    space = task.search.space
    assert space["max-running-requests"].values() == [16, 32, 48, 64]
    assert space["mem-fraction-static"].values() == [0.7, 0.8, 0.9]
    assert "low" in problems(with_(search={"strategy": "grid", "space": {"x": {"low": 5, "high": 1}}}))


def test_scenarios_parse_and_sample():
    import random
    rng = random.Random(0)
    assert parse_scenario("D(100,50)").sample(rng) == RequestShape(100, 50)
    s = parse_scenario("N(480,240)/(300,150)").sample(rng)
    assert s.input_tokens >= 1 and s.output_tokens >= 1
    u = parse_scenario("U(10,20)/(5,6)").sample(rng)
    assert 10 <= u.input_tokens <= 20 and 5 <= u.output_tokens <= 6
    assert parse_scenario("P(2048,128)/256").sample(rng) == RequestShape(2176, 256, 2048)
    with pytest.raises(ValueError, match="U\\(min_in"):
        parse_scenario("D(1)")


def test_seed_format_import_with_notes():
    notes: list[str] = []
    task = load_task(DATA / "seed_task.json", notes)
    assert task.name == "docker-slo-aware-tune" and task.engine == "sglang"
    assert task.deployment == "docker"
    assert task.search.strategy == "grid" and task.search.max_experiments == 6
    assert task.search.space == {"tp-size": [1, 2], "mem-fraction-static": [0.7, 0.8, 0.85]}
    assert task.objective.metric == "output_throughput" and task.objective.maximize
    assert task.workload.concurrency == [1, 4, 8] and task.workload.num_requests == 50
    assert task.workload.duration == 10 and task.timeouts.experiment == 600
    assert task.slo == {"e2e_p90": 5.0, "ttft_p90": 1.0}
    assert task.model.served_name == "llama-3-2-1b-instruct"
    joined = "\n".join(notes)
    assert "optimization.strategy 'grid_search' -> search.strategy = 'grid'" in joined
    assert "steepness" in joined and "additional_params" in joined


def test_validate_command_exit_codes(tmp_path):
    runner = CliRunner()
    good = tmp_path / "good.yaml"
    good.write_text("name: g\nmodel: m\nengine: vllm\nobjective: {minimize: ttft_p90}\n"
                    "search: {strategy: random, space: {max-num-seqs: [8, 16]}}\n")
    result = runner.invoke(app, ["validate", str(good)])
    assert result.exit_code == 0, result.output
    assert "2 configurations" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\nmodel: m\nengine: vllm\nobjective: {minimize: ttft_p90}\n"
                   "search: {strategy: simplex, space: {max-num-seqs: [8]}, max_experiments: x}\n")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "search.strategy" in result.output and "search.max_experiments" in result.output
    empty = tmp_path / "empty.yaml"
    empty.write_text("name: e\nmodel: m\nengine: vllm\nobjective: {minimize: ttft_p90}\n"
                     "search: {strategy: grid, space: {}}\n")
    result = runner.invoke(app, ["validate", str(empty)])
    assert result.exit_code == 2 and "search.space" in result.output


def test_grid_needs_discrete_space(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("name: c\nmodel: m\nengine: vllm\nobjective: {minimize: ttft_p90}\n"
                 "search: {strategy: grid, space: {gpu-memory-utilization: {low: 0.5, high: 0.9}}}\n")
    result = CliRunner().invoke(app, ["validate", str(f)])
    assert result.exit_code == 2 and "search.space.gpu-memory-utilization" in result.output
