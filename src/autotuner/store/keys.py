"""The canonical text of a configuration: equal configurations get equal keys (``8.0`` and ``8`` too)."""

from __future__ import annotations

import json
from typing import Any


def params_key(params: dict[str, Any]) -> str:
    """A canonical text of a configuration, so equal configurations compare equal."""
    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v
    return json.dumps({k: norm(v) for k, v in sorted(params.items())}, sort_keys=True, default=str)
