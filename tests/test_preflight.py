"""Engine flags are checked against the engine's catalog before anything is deployed."""

from typer.testing import CliRunner

from autotuner.cli.main import app

TASK = """
name: pf
model: meta-llama/Llama-3.1-8B-Instruct
engine: {engine}
gpus: 4
search:
  strategy: grid
  space:
{space}
objective: {{maximize: output_throughput}}
"""


def validate(tmp_path, space: str, engine: str = "sglang"):
    f = tmp_path / "task.yaml"
    f.write_text(TASK.format(engine=engine, space=space))
    return CliRunner().invoke(app, ["validate", str(f)])


def test_misspelled_flag_names_the_real_one(tmp_path):
    result = validate(tmp_path, "    mem-fraction-statc: [0.8, 0.9]")
    assert result.exit_code == 2
    assert "search.space.mem-fraction-statc" in result.output and "mem-fraction-static" in result.output


def test_bad_choice_lists_the_allowed_policies(tmp_path):
    result = validate(tmp_path, "    schedule-policy: [lpm, fastest]")
    assert result.exit_code == 2
    assert "fastest" in result.output and "lpm" in result.output and "fcfs" in result.output


def test_tp_that_cannot_work_explains_why(tmp_path):
    result = validate(tmp_path, "    tp: [1, 3]")
    assert result.exit_code == 2
    assert "search.space.tp" in result.output and "32 attention heads" in result.output
    result = validate(tmp_path, "    tp-size: [8]")
    assert result.exit_code == 2 and "needs 8 GPUs but the task has 4" in result.output


def test_vllm_types_and_a_good_task(tmp_path):
    result = validate(tmp_path, "    max-num-seqs: [64, lots]", engine="vllm")
    assert result.exit_code == 2 and "search.space.max-num-seqs" in result.output
    result = validate(tmp_path, "    gpu-memory-utilization: [0.8, 0.9]\n    enable-prefix-caching: [true, false]",
                      engine="vllm")
    assert result.exit_code == 0, result.output
