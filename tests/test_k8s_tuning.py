"""A whole tuning task in Kubernetes/OME mode on the fake cluster, two experiments at a time."""

from __future__ import annotations

import pytest

pytest.importorskip("kubernetes")
pytest.importorskip("jsonschema")

from autotuner.service.session import RunOptions, execute, prepare_task  # noqa: E402
from autotuner.spec import task_from_dict  # noqa: E402
from autotuner.store import Store  # noqa: E402

from .fake_k8s import FakeCluster  # noqa: E402
from .fake_k8s.helpers import leftovers, load_llama_samples, unique  # noqa: E402


def spec(deployment: str, kubernetes: dict) -> dict:
    return {
        "name": unique("k8s-tune"), "model": "meta-llama/Llama-3.2-1B-Instruct", "engine": "sglang",
        "deployment": deployment, "gpus": 4,
        "search": {"strategy": "grid", "max_experiments": 4, "parallel": 2, "baseline": False, "prune": False,
                   "space": {"tp-size": [1, 2], "max-running-requests": [4, 64]}},
        "objective": {"maximize": "output_throughput_per_gpu"}, "slo": {"ttft_p90": 0.5},
        "workload": {"scenarios": ["D(64,32)"], "concurrency": [8], "num_requests": 16},
        "simulate": {"gpu": "h100", "startup_seconds": 0.1},
        "kubernetes": kubernetes,
    }


@pytest.mark.slow
def test_ome_run_with_two_slots_finds_the_local_best_and_leaves_nothing(tmp_path):
    with FakeCluster(tmp_path / "k8s", gpus=4) as cluster:
        load_llama_samples(cluster)
        namespace = unique("ns")
        kube = {"kubeconfig": str(cluster.kubeconfig), "namespace": namespace, "create_presets": True}
        task = task_from_dict(spec("kubernetes", kube))
        store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
        options = RunOptions(out_dir=tmp_path / "runs", state_dir=tmp_path / "state")
        task_id = prepare_task(store, task, options)
        assert execute(store, task, task_id, options) == "succeeded"
        exps = store.experiments(task_id)
        assert len(exps) == 4 and {e.status for e in exps} <= {"succeeded", "infeasible"}
        assert len({e.params_key for e in exps}) == 4
        # two at a time: some experiments overlapped, on disjoint GPUs
        spans = [(e.started_at, e.finished_at, set(e.gpus)) for e in exps]
        overlapping = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:] if a[0] < b[1] and b[0] < a[1]]
        assert overlapping and all(not (a[2] & b[2]) for a, b in overlapping)
        assert leftovers(cluster, namespace)["inferenceservices"] == []
        k8s_best = max((e for e in exps if e.status == "succeeded"), key=lambda e: e.score).params

    local = task_from_dict({**spec("local", {}), "name": unique("local-tune")})
    store = Store(f"sqlite:///{tmp_path / 'local.sqlite'}")
    options = RunOptions(virtual_time=True, out_dir=tmp_path / "runs-local")
    task_id = prepare_task(store, local, options)
    assert execute(store, local, task_id, options) == "succeeded"
    local_best = max((e for e in store.experiments(task_id) if e.status == "succeeded"), key=lambda e: e.score).params
    assert k8s_best == local_best
