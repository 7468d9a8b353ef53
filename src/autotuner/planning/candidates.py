"""The configurations a plan compares: GPU type x GPU count x parallel layout x key engine flags.

Each engine's flags are spelled as that engine spells them, so a candidate's ``flags`` is the
command line a user would run (``autotuner plan`` prints it for the best).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENGINES = ("sglang", "vllm")
GPU_COUNTS = (1, 2, 4, 8)

# (tensor, pipeline, data) parallel flag names, then the batch-size cap, largest first: a smaller cap
# usually needs as many replicas or more, so its predecessor's count is where its search starts.
PARALLEL_FLAGS = {
    "sglang": ("tp-size", "pp-size", "dp-size"),
    "vllm": ("tensor-parallel-size", "pipeline-parallel-size", "data-parallel-size"),
}
KEY_FLAGS = {
    "sglang": {"max-running-requests": (512, 128, 32)},
    "vllm": {"max-num-seqs": (512, 128, 32)},
}
_SHORT = {"max-running-requests": "mr", "max-num-seqs": "mr", "chunked-prefill-size": "cp",
          "max-num-batched-tokens": "bt"}


@dataclass(frozen=True)
class Candidate:
    """One configuration to predict: GPU type, engine, parallel layout (one replica) and key flags."""
    gpu: str
    engine: str
    tp: int
    pp: int = 1
    dp: int = 1
    knobs: tuple[tuple[str, Any], ...] = field(default=())  # key engine flags beyond the layout

    @property
    def gpus(self) -> int:
        """GPUs of one replica (one engine instance)."""
        return self.tp * self.pp * self.dp

    @property
    def flags(self) -> dict[str, Any]:
        names = PARALLEL_FLAGS[self.engine]
        out: dict[str, Any] = {names[0]: self.tp}
        if self.pp > 1:
            out[names[1]] = self.pp
        if self.dp > 1:
            out[names[2]] = self.dp
        out.update(self.knobs)
        return out

    @property
    def layout(self) -> str:
        return " ".join(f"{k}{v}" for k, v in (("tp", self.tp), ("pp", self.pp), ("dp", self.dp))
                        if k == "tp" or v > 1)

    @property
    def knob_label(self) -> str:
        return " ".join(f"{_SHORT.get(k, k)}{_compact(v)}" for k, v in self.knobs)

    def to_dict(self) -> dict[str, Any]:
        return {"gpu": self.gpu, "engine": self.engine, "gpus_per_replica": self.gpus, "tp": self.tp,
                "pp": self.pp, "dp": self.dp, "flags": self.flags}


def _compact(value: Any) -> str:
    if isinstance(value, int) and value >= 1024 and value % 1024 == 0:
        return f"{value // 1024}k"
    return str(value)


def layouts(count: int) -> list[tuple[int, int, int]]:
    """(tp, pp, dp) with tp x pp x dp = count: all tensor parallel, or half of it with pp=2 or dp=2."""
    out = [(count, 1, 1)]
    if count >= 2 and count % 2 == 0:
        out += [(count // 2, 2, 1), (count // 2, 1, 2)]
    return out


def _knob_grid(engine: str, knobs: dict[str, tuple]) -> list[tuple[tuple[str, Any], ...]]:
    grid: list[tuple[tuple[str, Any], ...]] = [()]
    for name, values in knobs.items():
        grid = [g + ((name, v),) for g in grid for v in values]
    return grid


def generate(gpus: list[str], engines: list[str] = list(ENGINES), counts: tuple[int, ...] = GPU_COUNTS,
             knobs: dict[str, dict[str, tuple]] | None = None) -> list[Candidate]:
    """Every combination, in a stable order."""
    knobs = KEY_FLAGS if knobs is None else knobs
    return [Candidate(gpu, engine, tp, pp, dp, grid)
            for gpu in gpus for engine in engines for count in counts for tp, pp, dp in layouts(count)
            for grid in _knob_grid(engine, knobs.get(engine, {}))]
