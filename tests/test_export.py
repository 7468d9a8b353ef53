"""``autotuner export``: the demo's best as each artefact, rendered by the deployers' code; the OME
export valid against OME's CRDs; ``render`` refusing a misspelt flag."""

from __future__ import annotations

import shlex

import pytest
import yaml

from autotuner.report.export import EXPORT_KINDS, ExportError, export
from autotuner.spec import load_task

from .report_fixtures import DEMO, cli

BEST = {"tp-size": 2, "max-running-requests": 64, "mem-fraction-static": 0.85, "enable-mixed-chunk": True}


def test_every_export_of_the_demo_task_names_the_best_flags(demo_run):
    outputs = {}
    for kind in EXPORT_KINDS:
        done = cli("export", str(DEMO), "--as", kind, "--db", demo_run.db)
        assert done.returncode == 0, done.stderr
        outputs[kind] = done.stdout
    command = shlex.split(outputs["command"])
    assert command[:3] == ["python", "-m", "sglang.launch_server"] and "--max-running-requests" in command
    docker = shlex.split(outputs["docker"].replace("\\\n", " "))
    assert docker[:2] == ["docker", "run"] and "lmsysorg/sglang:latest" in docker
    assert docker[docker.index("lmsysorg/sglang:latest") + 1:][:3] == ["python3", "-m", "sglang.launch_server"]
    assert command[3:] == docker[docker.index("--model-path"):docker.index("--host")]
    kinds = [d["kind"] for d in yaml.safe_load_all(outputs["kubernetes"])]
    assert kinds == ["Deployment", "Service"]
    config = yaml.safe_load(outputs["config"])
    assert config["model-path"] == "meta-llama/Llama-3.2-1B-Instruct"
    flags = {k: v for k, v in config.items() if k != "model-path"}
    assert set(flags) == set(BEST) | set(load_task(DEMO).fixed_args)  # the task's fixed flags go with the best
    for flag, value in flags.items():  # the same configuration as the command line
        if isinstance(value, bool):
            assert (f"--{flag}" in command) == value
        else:
            assert command[command.index(f"--{flag}") + 1] == str(value)


def test_unknown_export_kind_exits_2_listing_the_allowed(demo_run):
    done = cli("export", str(DEMO), "--as", "helm", "--db", demo_run.db)
    assert done.returncode == 2
    assert "helm" in done.stderr and "command, docker, kubernetes, ome, config" in done.stderr
    with pytest.raises(ExportError, match="allowed"):
        export(load_task(DEMO), BEST, "helm")


def test_ome_export_validates_against_the_crds():
    pytest.importorskip("jsonschema")
    from .fake_k8s.kinds import load_crds
    from .fake_k8s.schema import prepare, validate

    crds = {r.kind: crd for r, crd in load_crds().items()}
    documents = list(yaml.safe_load_all(export(load_task(DEMO), BEST, "ome")))
    assert [d["kind"] for d in documents] == ["ClusterBaseModel", "ClusterServingRuntime", "InferenceService"]
    for doc in documents:
        stored, unknown = prepare(doc, crds[doc["kind"]])
        assert unknown == [], f"{doc['kind']} fields the API server would prune: {unknown}"
        assert validate(stored, crds[doc["kind"]]) == []
    args = documents[-1]["spec"]["engine"]["runner"]["args"]
    assert args[args.index("--tp-size") + 1] == "2" and "--enable-mixed-chunk" in args


def test_render_with_a_misspelt_flag_exits_2_naming_the_closest_flag():
    done = cli("render", str(DEMO), "--experiment", '{"tp-sise": 2}')
    assert done.returncode == 2
    assert "tp-sise" in done.stderr and "tp-size" in done.stderr
    good = cli("render", str(DEMO), "--experiment", '{"tp-size": 2}')
    assert "tp-size" not in good.stderr  # a real flag passes the check (the task may still lack kubernetes:)
