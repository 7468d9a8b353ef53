"""`--json` on `run`, `validate` and `bench`: one JSON object on stdout and nothing else (the human
lines go to stderr), for scripts. And a finished task, run again, says so instead of a bar at 0/N."""

from __future__ import annotations

import json

import pytest

from autotuner.report.units import fmt

from .fake_openai_server import FakeOpenAIServer
from .report_fixtures import DEMO, cli


def _one_object(stdout: str) -> dict:
    doc = json.loads(stdout)  # raises when anything else shares stdout
    assert isinstance(doc, dict) and stdout.strip().count("\n") == 0
    return doc


@pytest.fixture(scope="module")
def demo_json(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("json")
    db = f"sqlite:///{tmp / 'demo.db'}"
    args = ("run", str(DEMO), "--virtual-time", "--db", db, "--out", str(tmp / "runs"))
    return tmp, args, cli(*args, "--json")


def test_run_json_is_the_results_document_with_status_and_paths(demo_json):
    tmp, _, done = demo_json
    assert done.returncode == 0, done.stderr
    doc = _one_object(done.stdout)
    assert doc["status"] == "succeeded" and len(doc["experiments"]) == 17
    on_disk = json.loads((tmp / "runs" / "quickstart" / "results.json").read_text())
    assert doc["best"]["id"] == on_disk["best"]["id"] and doc["best"]["command"] == on_disk["best"]["command"]
    assert doc["results_path"].endswith("results.json") and doc["report_path"].endswith("report.html")
    assert "#1 started" in done.stderr and "launch:" in done.stderr  # the human view went to stderr


def test_finished_task_run_again_says_so_with_its_best(demo_json):
    _, args, first = demo_json
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    first_line = " ".join(again.stdout.split("\n    ")).splitlines()[0]
    best = _one_object(first.stdout)["best"]
    assert first_line.startswith("task quickstart already finished (16 experiments and the baseline")
    shown = fmt("output_throughput_per_gpu", best["score"], with_unit=True)
    assert f"best #{best['id']}: {shown}" in first_line and "--restart" in first_line
    assert "started" not in again.stdout and "0/16" not in again.stdout


def test_validate_json_valid_and_invalid(tmp_path):
    ok = cli("validate", str(DEMO), "--json")
    assert ok.returncode == 0
    doc = _one_object(ok.stdout)
    assert doc["valid"] is True and doc["task"] == "quickstart" and doc["configurations"] == 16
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text(DEMO.read_text().replace("max_experiments: 16", "max_experiments: 0"))
    bad = cli("validate", str(bad_file), "--json")
    assert bad.returncode == 2
    doc = _one_object(bad.stdout)
    assert doc["valid"] is False and any(p.startswith("search.max_experiments") for p in doc["problems"])
    assert "search.max_experiments" in bad.stderr


def test_bench_json_is_the_result_in_seconds(tmp_path):
    with FakeOpenAIServer(ttft=0.05, itl=0.005) as server:
        done = cli("bench", "--url", server.base_url, "--model", "fake", "--concurrency", "1,2",
                   "--num-requests", "4", "--scenario", "D(32,8)", "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    doc = _one_object(done.stdout)
    assert [lv["concurrency"] for lv in doc["levels"]] == [1, 2]
    ttft = doc["levels"][0]["metrics"]["ttft_p50"]
    assert ttft == pytest.approx(0.05, abs=0.03)  # seconds, as in --output files
    assert "c=1" in done.stderr


def test_run_json_of_a_refused_task_is_one_object_naming_the_problems(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO.read_text().replace("meta-llama/Llama-3.2-1B-Instruct", "acme/NoSuchModel-7B"))
    done = cli("run", str(bad), "--virtual-time", "--json", "--db", f"sqlite:///{tmp_path / 'db.sqlite'}",
               "--out", str(tmp_path / "runs"))
    assert done.returncode == 2
    doc = _one_object(done.stdout)
    assert doc["status"] == "invalid" and doc["problems"][0].startswith("model.id: unknown model")
    assert not (tmp_path / "db.sqlite").exists()
