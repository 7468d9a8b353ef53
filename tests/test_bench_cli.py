"""``autotuner bench`` as a Typer command."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from autotuner.bench.result import BenchmarkResult
from autotuner.cli.bench_cmd import bench

from .fake_openai_server import FakeOpenAIServer


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    app.command("bench")(bench)

    @app.command("other")  # two commands, so "bench" stays a subcommand as in the real app
    def other() -> None:
        pass

    return app


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer(ttft=0.005, itl=0.001) as s:
        yield s


def test_bench_prints_levels_and_writes_the_result(app, server, tmp_path):
    out = tmp_path / "run" / "result.json"
    result = CliRunner().invoke(app, ["bench", "--url", server.base_url, "--model", "fake",
                                      "--scenario", "D(16,4)", "--concurrency", "1,2", "--rate", "100",
                                      "--num-requests", "4", "--warmup", "1", "--slo", "ttft_p90=1.0",
                                      "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "c=1" in result.output and "c=2" in result.output and "100 req/s" in result.output
    assert "TTFT p50" in result.output
    data = json.loads(out.read_text())
    parsed = BenchmarkResult.from_dict(data)
    assert [(lv.concurrency, lv.rate) for lv in parsed.levels] == [(1, None), (2, None), (None, 100.0)]
    assert all(lv.metrics["num_requests"] == 4 and lv.metrics["goodput"] > 0 for lv in parsed.levels)


def test_output_directory_gets_result_json(app, server, tmp_path):
    result = CliRunner().invoke(app, ["bench", "--url", server.base_url, "--model", "fake", "--scenario", "E(8)",
                                      "--num-requests", "2", "--concurrency", "1", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "result.json").read_text())["levels"][0]["scenario"] == "E(8)"


@pytest.mark.parametrize("args, message", [
    (["--scenario", "Q(1)"], "--scenario"),
    (["--concurrency", "1,x"], "--concurrency"),
    (["--concurrency", "0"], "--concurrency"),
    (["--rate", "fast"], "--rate"),
    (["--slo", "speed=3"], "--slo"),
    (["--slo", "ttft_p90=soon"], "--slo"),
    (["--api", "responses"], "--api"),
])
def test_bad_flags_exit_2_naming_the_flag(app, args, message):
    result = CliRunner().invoke(app, ["bench", "--url", "http://127.0.0.1:9", "--model", "m", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_unreachable_server_exits_1(app):
    with FakeOpenAIServer() as s:
        url = s.base_url
    result = CliRunner().invoke(app, ["bench", "--url", url, "--model", "m", "--num-requests", "2",
                                      "--concurrency", "1"])
    assert result.exit_code == 1
    assert "every request failed" in result.output
