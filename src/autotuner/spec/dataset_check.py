"""``workload.dataset`` opened and checked when the task is validated, not after engines start.

Otherwise an unreadable or malformed dataset fails every experiment as a crash, each after deploying
an engine. The first lines are read (a dataset may be large; this stays cheap) and must be what the
benchmark reads: JSON objects with a ``prompt`` string or a ``messages`` list.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

CHECKED_LINES = 200
CHECKED_BYTES = 4_000_000
MAX_LINE_BYTES = 1_000_000


def _line_problem(line: str) -> str | None:
    try:
        item = json.loads(line)
    except (ValueError, RecursionError) as e:
        return f"invalid JSON: {e}"
    if not isinstance(item, dict):
        return "expected a JSON object with 'prompt' or 'messages'"
    messages = item.get("messages")
    chat = isinstance(messages, list) and all(isinstance(m, dict) for m in messages)
    if not isinstance(item.get("prompt"), str) and not chat:
        return "needs 'prompt' (a string) or 'messages' (a list of objects)"
    out = item.get("output_tokens")
    if out is not None and (not isinstance(out, int) or isinstance(out, bool) or out < 1):
        return f"'output_tokens' must be an integer >= 1, got {out!r}"
    return None


def dataset_problems(path: Path | None) -> list[str]:
    if path is None:
        return []
    where = "workload.dataset"
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return [f"{where}: {path} is not a regular file"]
        prompts, read = 0, 0
        with open(path, "rb") as f:
            for number in range(1, CHECKED_LINES + 1):
                raw = f.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    break
                read += len(raw)
                if len(raw) > MAX_LINE_BYTES:
                    return [f"{where}: {path} line {number} is longer than {MAX_LINE_BYTES:,} bytes"]
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    return [f"{where}: {path} line {number} is not UTF-8 text"]
                if line.strip():
                    problem = _line_problem(line)
                    if problem:
                        return [f"{where}: {path} line {number}: {problem}"]
                    prompts += 1
                if read > CHECKED_BYTES:
                    break
    except OSError as e:
        return [f"{where}: cannot read {path}: {e.strerror or e}"]
    if not prompts:
        return [f"{where}: {path} holds no prompts (JSONL lines with 'prompt' or 'messages')"]
    return []
