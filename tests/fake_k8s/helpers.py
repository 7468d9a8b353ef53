"""Shared pieces of the Kubernetes tests: tasks pointing at a fake cluster, and the OME samples."""

from __future__ import annotations

import itertools
from typing import Any

from autotuner.deploy.kubernetes.manifests import launch_spec_for
from autotuner.spec import task_from_dict

from .cluster import FakeCluster, sample

LLAMA_SAMPLES = ("models_meta_Llama-3.2-1B-Instruct.yaml", "runtimes_srt_meta_llama-3-2-1b-instruct-rt.yaml",
                 "runtimes_vllm_llama-3-2-1b-instruct-rt.yaml")
_ids = itertools.count(1)


def load_llama_samples(cluster: FakeCluster) -> None:
    """OME's Llama-3.2-1B ClusterBaseModel and its SGLang and vLLM runtimes, as a cluster would have them."""
    for name in LLAMA_SAMPLES:
        for obj in sample(name):
            cluster.create(obj)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def make_task(cluster: FakeCluster, name: str | None = None, engine: str = "sglang",
              model: str = "meta-llama/Llama-3.2-1B-Instruct", **kubernetes: Any):
    space = {"tp-size": [1, 2]} if engine == "sglang" else {"tensor-parallel-size": [1, 2]}
    options = {"kubeconfig": str(cluster.kubeconfig), "namespace": unique("ns"), "create_presets": True,
               **kubernetes}
    return task_from_dict({"name": name or unique("task"), "model": {"id": model}, "engine": engine,
                           "deployment": "kubernetes", "search": {"space": space},
                           "objective": {"maximize": "output_throughput"}, "kubernetes": options})


def sim_spec(task, params: dict[str, Any], startup_seconds: float = 0.1):
    """The experiment's launch spec on the simulated engine, as the tuner builds it with --simulate."""
    return launch_spec_for(task, params, {"gpu": "h100", "seed": 0, "startup_seconds": startup_seconds})


def leftovers(cluster: FakeCluster, namespace: str) -> dict[str, list[str]]:
    """What of ours is still in ``namespace`` (empty lists when clean)."""
    labels = "app.kubernetes.io/managed-by=autotuner"
    return {plural: [o["metadata"]["name"] for o in cluster.objects(plural, namespace, labels)]
            for plural in ("inferenceservices", "deployments", "services", "pods")}
