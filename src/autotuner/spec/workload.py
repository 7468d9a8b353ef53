"""The traffic a benchmark drives: scenarios x load levels."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .scenarios import Scenario, parse_scenario


class Workload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenarios: list[str] = Field(default_factory=lambda: ["D(128,128)"], min_length=1)
    concurrency: list[int] = Field(default_factory=list, description="closed-loop levels")
    rates: list[float] = Field(default_factory=list, description="open-loop Poisson levels, requests/s")
    num_requests: int | None = Field(default=None, ge=1, description="requests per level")
    duration: float | None = Field(default=None, gt=0, description="seconds per level")
    warmup_requests: int = Field(default=0, ge=0)
    dataset: Path | None = Field(default=None, description="JSONL prompts instead of synthetic ones")
    select: Literal["best_feasible", "mean", "last"] = Field(
        default="best_feasible",
        description="how levels make one score: the best level meeting the SLO (default), "
        "the mean over levels, or the last (highest) level",
    )

    @field_validator("scenarios")
    @classmethod
    def _scenarios_parse(cls, v: list[str]) -> list[str]:
        for s in v:
            parse_scenario(s)
        return v

    @field_validator("concurrency")
    @classmethod
    def _positive_levels(cls, v: list[int]) -> list[int]:
        if any(c < 1 for c in v):
            raise ValueError("concurrency levels must be >= 1")
        return v

    @field_validator("rates")
    @classmethod
    def _positive_rates(cls, v: list[float]) -> list[float]:
        if any(r <= 0 for r in v):
            raise ValueError("rates must be > 0")
        return v

    @model_validator(mode="after")
    def _defaults(self) -> "Workload":
        if not self.concurrency and not self.rates:
            self.concurrency = [8]
        if self.num_requests is None and self.duration is None:
            self.num_requests = 100
        return self

    def parsed_scenarios(self) -> list[Scenario]:
        return [parse_scenario(s) for s in self.scenarios]

    def levels(self) -> list[tuple[str, int | None, float | None]]:
        """(scenario, concurrency, rate) for every level, lowest load first within a scenario."""
        out = []
        for s in self.scenarios:
            out += [(s, c, None) for c in sorted(self.concurrency)]
            out += [(s, None, r) for r in sorted(self.rates)]
        return out
