"""JSON for the load generator's hot path: orjson when installed (several times faster), else json.

Both raise ``ValueError`` on bad input (orjson's error subclasses it).
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value)

    loads = orjson.loads
except ImportError:  # the standard library: same results, more CPU per request
    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    loads = json.loads
