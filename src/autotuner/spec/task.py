"""The task spec: what to tune, how to search, what "best" means, and under which SLOs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ..bench.api_kinds import API_KINDS
from ..bench.metrics import higher_is_better, metric_names
from ..deploy.registry import DEPLOYERS as DEPLOYMENTS
from ..engines import ENGINES
from ..hardware.gpus import GPUS
from ..search.strategies import STRATEGIES
from .fast_start import FastStart
from .workload import Workload

# The name lists are registries (imported here for the spec's readers; register() adds an entry). A field
# naming one is checked when a task is read, so an entry registered later is valid too.
EngineName = Annotated[str, AfterValidator(ENGINES.check)]
DeploymentName = Annotated[str, AfterValidator(DEPLOYMENTS.check)]
StrategyName = Annotated[str, AfterValidator(STRATEGIES.check)]
GpuName = Annotated[str, AfterValidator(GPUS.check)]
ApiName = Annotated[str, AfterValidator(API_KINDS.check)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelRef(_Strict):
    id: str = Field(min_length=1, description="Hugging Face id or local path")
    served_name: str | None = None

    @property
    def name(self) -> str:
        return self.served_name or self.id


class NumberRange(_Strict):
    low: float
    high: float
    step: float | None = Field(default=None, gt=0)
    log: bool = False
    integer: bool | None = None  # None: integer when low, high and step are all whole

    @model_validator(mode="after")
    def _ordered(self) -> "NumberRange":
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("log ranges need low > 0")
        if self.log and self.step is not None:
            raise ValueError("a range cannot have both step and log")
        return self

    @property
    def is_integer(self) -> bool:
        if self.integer is not None:
            return self.integer
        return all(float(x).is_integer() for x in (self.low, self.high, self.step or 1))

    def values(self) -> list[float | int] | None:
        """The grid of a stepped range, or None when continuous."""
        if self.step is None:
            if self.is_integer and not self.log:
                return list(range(int(self.low), int(self.high) + 1))
            return None
        out, k = [], 0
        while True:
            x = self.low + k * self.step
            if x > self.high + 1e-9:
                break
            out.append(int(round(x)) if self.is_integer else round(x, 10))
            k += 1
        return out


SpaceEntry = Annotated[list[Any], Field(min_length=1)] | NumberRange


class SearchSpec(_Strict):
    strategy: StrategyName = "bayesian"
    max_experiments: int = Field(default=20, ge=1)
    seed: int = 0
    space: dict[str, SpaceEntry] = Field(min_length=1)
    parallel: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(default="auto", description="experiments at once on disjoint GPU "
                                             "sets; auto: as many as the GPUs fit (search/fast_start.py)")
    prior: Literal["none", "simulate"] = "none"
    warm_start: str | None = None
    repeats: int = Field(default=1, ge=1, description="confirmation runs of the top configurations")
    top_k: int = Field(default=0, ge=0, description="how many top configurations to confirm")
    prune: bool = True
    level_order: Literal["as_written", "informative"] = Field(
        default="as_written", description="as_written: lowest load first; informative (with prune): each "
        "scenario's highest load level first when the objective is a rate (see search/fidelity.py)")
    baseline: bool = True

    @field_validator("space")
    @classmethod
    def _space_entries(cls, v: dict[str, SpaceEntry]) -> dict[str, SpaceEntry]:
        cleaned: dict[str, SpaceEntry] = {}
        for flag, entry in v.items():
            name = flag.lstrip("-")
            if not name:
                raise ValueError(f"flag name {flag!r} is empty")
            if isinstance(entry, list) and not entry:
                raise ValueError(f"space.{name}: empty list of values")
            cleaned[name] = entry
        return cleaned


class Objective(_Strict):
    metric: str
    direction: Literal["maximize", "minimize"]

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        # {maximize: output_throughput} or "maximize output_throughput"
        if isinstance(data, str):
            parts = data.split()
            if len(parts) == 2:
                return {"direction": parts[0], "metric": parts[1]}
        if isinstance(data, dict) and len(data) == 1:
            (k, v), = data.items()
            if k in ("maximize", "minimize"):
                return {"direction": k, "metric": v}
        return data

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str) -> str:
        if v not in metric_names():
            raise ValueError(f"unknown metric {v!r}; allowed: {', '.join(metric_names())}")
        return v

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"


class Timeouts(_Strict):
    startup: float = Field(default=900, gt=0, description="seconds for the engine to become ready")
    experiment: float = Field(default=3600, gt=0, le=7 * 24 * 3600, description="seconds for one whole "
                              "experiment: start-up, benchmark and teardown")
    stall: float = Field(default=30, gt=0, le=3600, description="seconds a streamed request may go without a "
                         "token before it is cut (and counted as an error)")


class Simulate(_Strict):
    gpu: GpuName = "h100"
    virtual_time: bool = False
    noise: float = Field(default=0.0, ge=0, le=0.5)
    startup_seconds: float = Field(default=0.3, ge=0)
    startup: Literal["fixed", "modelled"] = Field(default="fixed", description="fixed: startup_seconds; "
                                                  "modelled: weights load + compile + graphs (sim/startup.py)")


class Benchmark(_Strict):
    """Who drives the load: our client (where the tuner runs), or an OME BenchmarkJob (genai-bench in
    the cluster, beside the engine; kubernetes deployments in OME mode, results on a PVC)."""

    runner: Literal["client", "ome-benchmarkjob"] = "client"
    image: str = Field(default="ghcr.io/sgl-project/genai-bench:0.1.132", description="the BenchmarkJob's image")
    reader_image: str = Field(default="busybox:1.36", description="the pod that reads the results off the PVC")
    min_success_rate: float = Field(default=0.99, ge=0, le=1, description="a level where fewer requests "
                                    "succeed fails the experiment (reason: errors)")
    workers: int | None = Field(default=None, ge=1, le=256, description="client processes sending the load "
                                "(runner client); default: cores - 1 (at least 2) when a level has concurrency >= 128 "
                                "or rate >= 100/s, else 1")

    @model_validator(mode="after")
    def _images(self) -> "Benchmark":
        for field in ("image", "reader_image"):
            if not getattr(self, field).strip():
                raise ValueError(f"benchmark.{field} must name a container image")
        return self


class Task(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    model: ModelRef
    engine: EngineName
    engine_version: str | None = None
    deployment: DeploymentName = "local"
    gpus: int | list[int] = 1
    search: SearchSpec
    objectives: list[Objective] = Field(min_length=1)
    slo: dict[str, float] = Field(default_factory=dict)
    workload: Workload = Field(default_factory=Workload)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    fixed_args: dict[str, Any] = Field(default_factory=dict)
    simulate: Simulate | None = None
    api: ApiName = "chat"
    benchmark: Benchmark = Field(default_factory=Benchmark)
    fast_start: FastStart = Field(default_factory=FastStart)
    docker: dict[str, Any] = Field(default_factory=dict)
    kubernetes: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("model"), str):
            data["model"] = {"id": data["model"]}
        if "objective" in data:
            if "objectives" in data:
                raise ValueError("give either objective or objectives, not both")
            data["objectives"] = [data.pop("objective")]
        return data

    @field_validator("gpus")
    @classmethod
    def _gpus(cls, v: int | list[int]) -> int | list[int]:
        if isinstance(v, int) and v < 1:
            raise ValueError("gpus must be >= 1 (a count) or a list of GPU ids")
        if isinstance(v, list) and (not v or len(set(v)) != len(v) or min(v) < 0):
            raise ValueError("gpu ids must be distinct, non-negative and at least one")
        return v

    @field_validator("slo")
    @classmethod
    def _slo_metrics(cls, v: dict[str, float]) -> dict[str, float]:
        for metric in v:
            if metric not in metric_names():
                raise ValueError(f"unknown SLO metric {metric!r}; allowed: {', '.join(metric_names())}")
        return v

    @field_validator("fixed_args")
    @classmethod
    def _strip_dashes(cls, v: dict[str, Any]) -> dict[str, Any]:
        return {k.lstrip("-"): val for k, val in v.items()}

    @property
    def gpu_ids(self) -> list[int]:
        return list(range(self.gpus)) if isinstance(self.gpus, int) else list(self.gpus)

    @property
    def objective(self) -> Objective:
        return self.objectives[0]

    def slo_violations(self, metrics: dict[str, float]) -> dict[str, float]:
        """Per SLO metric, how far the value is on the wrong side (> 0 means violated)."""
        out = {}
        for metric, threshold in self.slo.items():
            v = metrics.get(metric)
            if v is None or v != v:  # missing or NaN: violated
                out[metric] = float("inf")
                continue
            excess = threshold - v if higher_is_better(metric) else v - threshold
            out[metric] = excess / threshold if threshold else excess
        return out
