"""Why a task has no best: the real cause when every experiment failed the same way, not the SLO.

An unknown model or a missing engine makes every experiment crash with one message; saying "no
configuration met the SLO" then sends the user to the wrong knob. Failures are grouped by their
reason and first line, with the numbers blanked (OOM messages differ only in their GiB figures).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable

HEADLINE_CHARS = 200


def headline(error: str | None, width: int = HEADLINE_CHARS) -> str:
    """The line of an error that says what happened (an out-of-memory line first), cut to ``width``."""
    lines = [ln.strip() for ln in (error or "").splitlines() if ln.strip()]
    if not lines:
        return ""
    memory = next((ln for ln in lines if "out of memory" in ln.lower()), None)
    head = lines[0]
    if memory and memory != head:
        head = f"{head.split(':')[0]}: {memory}"
    return head if len(head) <= width else head[: width - 1] + "…"


def _field(e: Any, name: str) -> Any:
    return e.get(name) if isinstance(e, dict) else getattr(e, name, None)


def _cause_key(error: str | None) -> str:
    return re.sub(r"\d+(\.\d+)?", "#", headline(error))


def no_best_message(experiments: Iterable[Any]) -> str:
    """The one line that says why nothing can be recommended (experiment rows or result dicts)."""
    ran = [e for e in experiments if _field(e, "status") not in ("rejected", "interrupted", "pending", "running")]
    failed = [e for e in ran if _field(e, "status") == "failed"]
    missed = [e for e in ran if _field(e, "status") in ("infeasible", "pruned")]
    if not ran:
        return "no experiment ran"
    if failed and len(failed) == len(ran):
        causes = Counter(_cause_key(_field(e, "error")) for e in failed)
        if len(causes) == 1:
            return f"every experiment failed: {headline(_field(failed[0], 'error'))}"
        kinds = Counter(headline(_field(e, "error")).split(":")[0] or "unknown" for e in failed)
        return "every experiment failed (" + ", ".join(f"{k}: {n}" for k, n in kinds.most_common()) + ")"
    if missed and not failed:
        return "no configuration met the SLO"
    if failed:
        return (f"no configuration succeeded and met the SLO: {len(failed)} failed, "
                f"{len(missed)} missed the SLO")
    return "no configuration succeeded and met the SLO"
