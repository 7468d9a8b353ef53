"""Our own task files in the inference-autotuner (seed) JSON format, tests/data/seed_fixtures/: between
them they use every field the original project's examples use, each is read with the mapping the
importer reports, validates, and runs to a best on the simulated engine in virtual time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autotuner.spec import load_task

from .report_fixtures import cli

DATA = Path(__file__).parent / "data"
FIXTURES = sorted((DATA / "seed_fixtures").glob("*.json"))
ORIGINALS = sorted((DATA / "seed_examples").glob("*.json"))
OPEN_ENDED = ("parameters", "additional_params")  # their keys are the user's own (flags, sampling)


def _fields(doc: dict, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in doc.items():
        path = f"{prefix}{key}"
        out.add(path)
        if isinstance(value, dict) and key not in OPEN_ENDED:
            out |= _fields(value, path + ".")
    return out


def _union(paths: list[Path]) -> set[str]:
    return set().union(*(_fields(json.loads(p.read_text())) for p in paths))


def test_the_fixtures_use_every_field_the_original_examples_use():
    if not ORIGINALS:
        pytest.skip("tests/data/seed_examples (the original project's examples) is absent")
    assert FIXTURES
    missing = _union(ORIGINALS) - _union(FIXTURES)
    assert not missing, f"fields of the original examples no fixture covers: {sorted(missing)}"


def _read(name: str):
    notes: list[str] = []
    return load_task(DATA / "seed_fixtures" / name, notes), notes


def test_ome_names_resolve_to_an_engine_and_a_model_id():
    task, notes = _read("ome_runtime_and_model_names.json")
    assert task.engine == "sglang" and task.model.id == "meta-llama/Llama-3.2-1B-Instruct"
    assert task.deployment == "kubernetes" and task.kubernetes["model_path"] == "/mnt/weights/llama-3.2-1b"
    assert task.gpus == 2  # the largest tp-size searched
    assert any("'srt-llama-3-2-1b-instruct' is an OME ClusterServingRuntime" in n for n in notes)


def test_engine_word_runtime_tokenizer_model_and_weighted_slos():
    task, notes = _read("engine_word_runtime_slo.json")
    assert task.engine == "vllm" and task.model.id == "meta-llama/Llama-3.2-1B-Instruct"
    assert task.slo == {"e2e_p50": 4.0, "e2e_p90": 6.0, "e2e_p99": 9.0, "ttft_p90": 1.5, "tpot_p90": 0.08}
    assert task.search.strategy == "random" and task.objective.metric == "ttft_mean"
    assert any("benchmark.model_tokenizer" in n for n in notes)
    assert any("steepness" in n for n in notes) and any("fail_ratio (latency.p90, latency.p99)" in n for n in notes)


def test_quantization_presets_become_searched_flags_and_parallel_sizes_the_gpu_count():
    presets, notes = _read("quant_presets_compared.json")
    assert set(presets.search.space) >= {"mem-fraction-static", "kv-cache-dtype", "quantization"}
    assert any("quant_config 'dynamic-fp8' ->" in n for n in notes)
    parallel, _ = _read("custom_quant_parallel_grid.json")
    assert parallel.gpus == 4  # tp 2 x dp 2
    assert parallel.fixed_args["quantization"] == "fp8" and parallel.fixed_args["kv-cache-dtype"] == "fp8_e4m3"
    single, _ = _read("ome_presets_single_quant.json")
    assert single.kubernetes["create_presets"] is True and single.gpus == 1


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_validates_and_runs_to_a_best_in_virtual_time(path, tmp_path):
    valid = cli("validate", str(path), "--json", cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    report = json.loads(valid.stdout)
    assert report["valid"] and report["notes"]
    done = cli("run", str(path), "--simulate", "h100", "--virtual-time", "--json",
               "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    assert doc["status"] == "succeeded" and doc["best"] is not None and doc["best"]["score"] is not None
    assert doc["best"]["command"].startswith(("python -m sglang", "vllm serve", "python -m vllm"))


def _seed_with_model(tmp_path: Path, model: str) -> Path:
    doc = json.loads((DATA / "seed_fixtures" / "ome_presets_single_quant.json").read_text())
    doc.update(model={"id_or_path": model, "namespace": "x"}, deployment_mode="local")
    for key in ("clusterbasemodel_config", "clusterservingruntime_config"):
        doc.pop(key)
    path = tmp_path / "task.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_model_the_simulated_engine_cannot_serve_is_refused_before_anything_starts(tmp_path):
    path = _seed_with_model(tmp_path, "acme/NoSuchModel-7B")
    refused = cli("validate", str(path), "--simulate", "--json", cwd=tmp_path)
    assert refused.returncode == 2
    problem = json.loads(refused.stdout)["problems"][0]
    assert problem.startswith("model.id: unknown model 'acme/NoSuchModel-7B'")
    assert "meta-llama/Llama-3.2-1B" in problem and "config.json" in problem  # the models it knows
    assert cli("validate", str(path), cwd=tmp_path).returncode == 0  # a real engine may download it
    db = tmp_path / "db.sqlite"
    run = cli("run", str(path), "--simulate", "h100", "--virtual-time", "--db", f"sqlite:///{db}",
              "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert run.returncode == 2 and "model.id: unknown model" in run.stderr
    assert not db.exists() and not (tmp_path / "runs").exists()


def test_when_every_experiment_fails_the_same_way_the_final_message_names_the_cause(tmp_path):
    task = tmp_path / "all-oom.yaml"
    task.write_text("""\
name: all-oom
model: meta-llama/Llama-3.2-1B-Instruct
engine: sglang
search: {strategy: grid, max_experiments: 2, space: {max-running-requests: [4, 64]}}
objective: {maximize: output_throughput_per_gpu}
fixed_args: {mem-fraction-static: 0.97}   # too little memory left for activations: every start fails
workload: {scenarios: ["D(128,32)"], concurrency: [4], num_requests: 8}
""")
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    done = cli("run", str(task), "--simulate", "h100", "--virtual-time", "--json", "--db", db,
               "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    assert doc["best"] is None and len(doc["experiments"]) == 3
    assert "every experiment failed: oom: torch.OutOfMemoryError: CUDA out of memory" in " ".join(
        done.stderr.split())
    assert "SLO" not in done.stderr.split("every experiment failed")[-1]

    from autotuner.store import Store
    row = Store(db).task_by_name("all-oom")
    assert row.status == "failed" and row.error.startswith("every experiment failed: oom:")


def test_no_best_message_tells_failures_from_slo_misses():
    from autotuner.report.failure_cause import no_best_message

    oom = {"status": "failed", "error": "oom: CUDA out of memory. Tried to allocate 0.50 GiB"}
    oom2 = {"status": "failed", "error": "oom: CUDA out of memory. Tried to allocate 0.31 GiB"}
    crash = {"status": "failed", "error": "crash: ValueError: unknown model 'x'"}
    slow = {"status": "infeasible", "error": "SLO not met: ttft_p90 = 0.2 (limit 0.1)"}
    assert no_best_message([oom, oom2]).startswith("every experiment failed: oom: CUDA out of memory")
    assert no_best_message([oom, crash]) == "every experiment failed (oom: 1, crash: 1)"
    assert no_best_message([slow, slow]) == "no configuration met the SLO"
    assert no_best_message([crash, slow]) == "no configuration succeeded and met the SLO: 1 failed, 1 missed the SLO"
    assert no_best_message([{"status": "rejected", "error": "bad flag"}]) == "no experiment ran"
