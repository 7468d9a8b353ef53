"""The outcome of one benchmark: one entry per load level (scenario x concurrency or rate)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class LevelResult:
    scenario: str
    concurrency: int | None = None
    rate: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # a sample of distinct error messages
    warnings: list[str] = field(default_factory=list)  # e.g. the client's CPU limited the level
    requests: list[list] = field(default_factory=list)  # bench/request_sample.py: for the noise of a gain

    @property
    def label(self) -> str:
        load = f"c={self.concurrency}" if self.concurrency is not None else f"rate={self.rate}/s"
        return f"{self.scenario} {load}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BenchmarkResult:
    levels: list[LevelResult] = field(default_factory=list)
    pruned: bool = False  # stopped early by the level callback

    def to_dict(self) -> dict:
        return {"levels": [lv.to_dict() for lv in self.levels], "pruned": self.pruned}

    @classmethod
    def from_dict(cls, data: dict) -> "BenchmarkResult":
        return cls([LevelResult(**lv) for lv in data.get("levels", [])], data.get("pruned", False))
