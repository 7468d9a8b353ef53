"""Hard limits on task input, and reading a task file within them.

A task file is a few kilobytes. Every limit here is far above any real task and far below what would
hurt the machine, and each error names the limit, so a hostile or mistyped file is refused at once,
before anything is deployed, instead of eating memory or time.
"""

from __future__ import annotations

from pathlib import Path

from .errors import SpecError

MAX_TASK_BYTES = 1_000_000  # a task file or request body
MAX_DEPTH = 32  # nesting of mappings and lists
MAX_NODES = 20_000  # YAML nodes once aliases are expanded (a billion-laughs file has 10^9)

MAX_GPUS = 1024
MAX_GPU_ID = 4095
MAX_EXPERIMENTS = 10_000
MAX_PARALLEL = 256
MAX_REPEATS = 100
MAX_TOP_K = 1000
MAX_FLAGS = 200  # flags in the space or in fixed_args
MAX_AXIS_VALUES = 10_000  # values of one flag of the space
MAX_SPACE_POINTS = 10**9  # configurations of a discrete space (samplers never enumerate it)
MAX_GRID_POINTS = 100_000  # configurations the grid strategy enumerates
MAX_CONCURRENCY = 100_000
MAX_RATE = 100_000.0  # requests/s
MAX_LEVELS = 256  # scenarios x (concurrency levels + rates)
MAX_NUM_REQUESTS = 10_000_000
MAX_WARMUP_REQUESTS = 100_000
MAX_LEVEL_SECONDS = 7 * 24 * 3600.0


def too_large(what: str, limit: int) -> str:
    return f"larger than the {limit:,}-byte limit for {what}; a task file is a few kilobytes"


def read_bounded(path: str | Path, limit: int = MAX_TASK_BYTES) -> bytes:
    """The file's bytes, reading at most ``limit`` + 1 (a 10 GB file or /dev/zero costs nothing)."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            raw = f.read(limit + 1)
    except OSError as e:
        raise SpecError([f"(file): cannot read {p}: {e.strerror or e}"], str(p)) from None
    if len(raw) > limit:
        raise SpecError([f"(file): {too_large('task files', limit)}"], str(p))
    return raw


def decode_text(raw: bytes, where: str = "(file)", source: str = "task") -> str:
    """UTF-8 text (a byte-order mark is dropped), or a SpecError saying where the first bad byte is."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SpecError([f"{where}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                         f"save the file as UTF-8"], source) from None
