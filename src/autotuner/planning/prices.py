"""GPU prices ($ per GPU-hour) for planning: the shipped table, optionally overridden by a file."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

DEFAULT_PRICES = Path(__file__).with_name("prices.yaml")


class PriceError(ValueError):
    pass


def _read(path: Path) -> dict[str, float]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise PriceError(f"--prices {path}: cannot read it: {e}") from e
    if not isinstance(raw, dict):
        raise PriceError(f"--prices {path}: must be a mapping gpu -> $/GPU-hour, got {type(raw).__name__}")
    out: dict[str, float] = {}
    for gpu, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise PriceError(f"--prices {path}: {gpu}: must be a positive number of $/GPU-hour, got {value!r}")
        out[str(gpu).lower()] = float(value)
    return out


def load_prices(override: Path | None = None) -> dict[str, float]:
    """The shipped prices, with the GPUs named in ``override`` replaced."""
    prices = _read(DEFAULT_PRICES)
    if override is not None:
        prices.update(_read(Path(override)))
    return prices
