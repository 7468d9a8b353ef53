"""The task's ``kubernetes:`` block, checked, and the names and labels every manifest shares."""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "autotuner"
TASK_LABEL = "autotuner.io/task"
EXPERIMENT_LABEL = "autotuner.io/experiment"
# A URL that reaches the engine from where the tuner runs, written on the InferenceService or the
# Service by whatever exposes it (the fake cluster of the tests, or a user's own ingress tooling).
REACHABLE_URL_ANNOTATION = "autotuner.io/reachable-url"
OME_GROUP, OME_VERSION = "ome.io", "v1beta1"


class KubernetesOptions(BaseModel):
    """``task.kubernetes``; every field is optional."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["ome", "deployment"] = "ome"
    namespace: str = Field(default="autotuner", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    kubeconfig: str | None = None  # default: $KUBECONFIG or ~/.kube/config, or the in-cluster account
    context: str | None = None
    # OME: names of an existing ClusterBaseModel / ClusterServingRuntime, or presets the tuner creates.
    base_model: str | None = None
    runtime: str | None = None
    create_presets: bool = False
    model_path: str | None = None  # preset ClusterBaseModel: where OME keeps the weights on the node
    image: str | None = None  # the engine image (plain mode default: the engine's official image)
    endpoint: Literal["auto", "in-cluster", "port-forward"] = "auto"
    hf_token_secret: str | None = None  # Secret holding the Hugging Face token under the key "token"
    node_selector: dict[str, str] = Field(default_factory=dict)
    shm_size: str = "16Gi"
    delete_timeout: float = Field(default=120.0, gt=0)
    # an OME BenchmarkJob (genai-bench) per experiment writes its results here; rendered with the
    # experiment, and run and read back (from a pvc://) with ``benchmark.runner: ome-benchmarkjob``
    benchmark_output: str | None = Field(default=None, description="e.g. pvc://bench-results/autotuner")


def parse_options(raw: dict | None) -> KubernetesOptions:
    """The options, or ValueError naming the field and what it accepts."""
    try:
        return KubernetesOptions.model_validate(raw or {})
    except ValidationError as e:
        allowed = ", ".join(KubernetesOptions.model_fields)
        problems = []
        for err in e.errors():
            field = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                problems.append(f"kubernetes.{field}: unknown option; allowed: {allowed}")
            else:
                problems.append(f"kubernetes.{field}: {err['msg']}")
        raise ValueError("; ".join(problems)) from None


def _hashed(text: str, limit: int) -> str:
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return f"{text[:limit - 9].rstrip('-._')}-{digest}"


def dns_name(text: str, limit: int = 45) -> str:
    """A DNS-1035 label (lowercase, starts with a letter) from ``text``, at most ``limit`` long.

    45 leaves room for the suffixes OME and Kubernetes add (``-engine``, pod hashes) under 63."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    name = re.sub(r"-{2,}", "-", name).strip("-") or "x"
    if not name[0].isalpha():
        name = "at-" + name
    if len(name) > limit:
        name = _hashed(name, limit)
    return name


def label_value(text: str) -> str:
    """A valid label value (<= 63 characters of [A-Za-z0-9._-], alphanumeric at both ends)."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    if len(value) > 63:
        value = _hashed(value, 63)
    return value


def owner_labels(task_name: str, experiment: str | None = None) -> dict[str, str]:
    labels = {MANAGED_BY: MANAGED_BY_VALUE, TASK_LABEL: label_value(task_name)}
    if experiment is not None:
        labels[EXPERIMENT_LABEL] = label_value(experiment)
    return labels


def selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())
