"""``autotuner render`` and ``autotuner cleanup`` (registered here on a test app; the lead wires them
into ``autotuner.cli.main``)."""

from __future__ import annotations

import pytest
import typer
import yaml
from typer.testing import CliRunner

pytest.importorskip("kubernetes")
pytest.importorskip("jsonschema")

from autotuner.cli.k8s_cmd import cleanup, render  # noqa: E402

from .fake_k8s import FakeCluster  # noqa: E402
from .fake_k8s.helpers import make_task, sim_spec  # noqa: E402

app = typer.Typer()
app.command("render")(render)
app.command("cleanup")(cleanup)
runner = CliRunner()


def write_task(path, **kubernetes) -> str:
    spec = {"name": "cli-task", "model": {"id": "Qwen/Qwen3-8B", "served_name": "qwen"}, "engine": "vllm",
            "deployment": "kubernetes", "search": {"space": {"tensor-parallel-size": [1, 2]}},
            "objective": {"maximize": "output_throughput"}, "kubernetes": kubernetes}
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_render_prints_a_yaml_stream_with_the_experiments_flags(tmp_path):
    task_file = write_task(tmp_path / "task.yaml", create_presets=True)
    result = runner.invoke(app, ["render", task_file, "--deployment", "kubernetes",
                                 "--experiment", '{"tensor-parallel-size": 2, "max-num-seqs": 128}'])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs] == ["ClusterBaseModel", "ClusterServingRuntime", "InferenceService"]
    args = docs[-1]["spec"]["engine"]["runner"]["args"]
    assert args[args.index("--tensor-parallel-size") + 1] == "2" and args[args.index("--max-num-seqs") + 1] == "128"
    assert args[args.index("--served-model-name") + 1] == "qwen"


def test_render_rejects_bad_input_naming_the_flag(tmp_path):
    task_file = write_task(tmp_path / "task.yaml", create_presets=True)
    bad = runner.invoke(app, ["render", task_file, "--experiment", "[1, 2]"])
    assert bad.exit_code == 2 and "--experiment: expected a JSON object" in bad.output
    wrong = runner.invoke(app, ["render", task_file, "--deployment", "docker"])
    assert wrong.exit_code == 2 and "allowed: kubernetes" in wrong.output
    options = runner.invoke(app, ["render", write_task(tmp_path / "t2.yaml", mode="helm")])
    assert options.exit_code == 2 and "kubernetes.mode" in options.output


def test_cleanup_removes_what_the_task_left(tmp_path):
    with FakeCluster(tmp_path / "cluster", gpus=2) as cluster:
        task = make_task(cluster, name="cli-task", engine="vllm", model="Qwen/Qwen3-8B")
        from autotuner.deploy.kubernetes import make_kubernetes_deployer
        make_kubernetes_deployer(task, tmp_path).deploy(sim_spec(task, {}), "cli-task-exp1", [0], 30)  # killed run
        task_file = write_task(tmp_path / "task.yaml", **task.kubernetes)
        result = runner.invoke(app, ["cleanup", task_file])
        assert result.exit_code == 0, result.output
        assert "removed InferenceService" in result.output
        assert "removed ClusterServingRuntime cli-task-vllm" in result.output
        assert cluster.objects("inferenceservices") == [] and cluster.objects("pods") == []
        again = runner.invoke(app, ["cleanup", task_file])
        assert again.exit_code == 0 and "nothing of task 'cli-task'" in again.output
