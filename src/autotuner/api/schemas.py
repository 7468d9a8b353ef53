"""Response shapes of the REST API (they document ``/docs``; the dicts are built in views.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Problem(BaseModel):
    loc: str = Field(description="field path, e.g. search.space.tp-size, or query.limit")
    msg: str


class Problems(BaseModel):
    detail: list[Problem]


class Progress(BaseModel):
    finished: int = Field(description="experiments finished that count against the budget")
    budget: int | None
    fraction: float | None


class BestBrief(BaseModel):
    experiment: int
    score: float | None
    parameters: dict[str, Any]


class Objective(BaseModel):
    metric: str
    direction: str


class TaskSummary(BaseModel):
    id: int
    name: str
    status: str
    engine: str | None
    model: str | None
    strategy: str | None
    objective: Objective | None
    progress: Progress
    best: BestBrief | None
    error: str | None
    cancel_requested: bool
    worker: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None


class TaskList(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[TaskSummary]


class CurrentExperiment(BaseModel):
    id: int
    n: int | None = Field(default=None, description="the experiment's number within its task")
    phase: str | None
    parameters: dict[str, Any]
    baseline: bool
    started_at: str | None
    worker: str | None = None


class BestDetail(BaseModel):
    id: int
    n: int | None = Field(default=None, description="the experiment's number within its task")
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    score: float | None
    baseline: bool
    command: str
    gain: dict[str, Any] | None = Field(default=None, description="gain over the engine's defaults, with its spread")


class TaskDetail(TaskSummary):
    spec: dict[str, Any]
    options: dict[str, Any]
    slo: dict[str, float]
    counts: dict[str, int] = Field(description="experiments per status")
    current: list[CurrentExperiment]
    best_detail: BestDetail | None
    parameters: list[str] = Field(description="the search space's parameter names")
    categories: dict[str, list[str]] = Field(default={}, description="category order of the flags tuned over a list")
    units: dict[str, str] = Field(default={}, description="on-screen unit per metric (latencies: ms; the API keeps s)")


class ExperimentDoc(BaseModel):
    model_config = {"extra": "allow"}
    id: int
    trial: int | None
    baseline: bool
    parameters: dict[str, Any]
    status: str
    phase: str | None
    metrics: dict[str, Any]
    score: float | None
    error: str | None
    worker: str | None = Field(default=None, description="the worker that ran it (host:pid)")


class ExperimentPage(BaseModel):
    total: int
    offset: int
    limit: int
    sort: str
    order: str
    items: list[ExperimentDoc]


class ExperimentDetail(ExperimentDoc):
    task_id: int
    levels: list[dict[str, Any]]
    log_tail: str = Field(description="the last lines of the engine's log ('' when there is none yet)")


class ValidateRequest(BaseModel):
    yaml: str | None = Field(default=None, description="a task as YAML or JSON text")
    document: dict[str, Any] | None = Field(default=None, description="a task as a JSON object")


class ValidateReport(BaseModel):
    valid: bool
    document: dict[str, Any] | None = Field(description="the parsed document (null when the text is not YAML)")
    yaml: str = Field(description="the document as YAML text")
    problems: list[Problem]
    notes: list[str] = Field(default_factory=list, description="how a seed-format task was read")


class Created(BaseModel):
    id: int
    name: str
    status: str
    notes: list[str] = Field(default_factory=list)


class StatusReply(BaseModel):
    id: int
    status: str
    cancel_requested: bool = False
