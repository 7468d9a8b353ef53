"""Spec errors that name the field path and what is allowed."""

from __future__ import annotations

from pydantic import ValidationError


class SpecError(ValueError):
    """An invalid task. ``problems`` holds one "field.path: message" line per problem."""

    def __init__(self, problems: list[str], source: str = "task"):
        self.problems = problems
        self.source = source
        super().__init__(f"{source} is invalid:\n" + "\n".join(f"  - {p}" for p in problems))


def _path(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in ("list[any]", "NumberRange", "int", "list[int]", "function-after[_ordered(), NumberRange]") or "[" in str(item) and "]" in str(item):
            continue  # union-branch tags from pydantic, not user fields
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def from_validation_error(err: ValidationError, source: str = "task") -> SpecError:
    problems: list[str] = []
    seen: set[str] = set()
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif "input" in e and e["type"] not in ("missing",) and not isinstance(e["input"], dict | list):
            msg = f"{msg} (got {e['input']!r})"
        line = f"{_path(e['loc'])}: {msg}"
        if line not in seen:
            seen.add(line)
            problems.append(line)
    return SpecError(_drop_union_noise(problems), source)


def _drop_union_noise(problems: list[str]) -> list[str]:
    """A union field reports one error per branch; keep the specific ones when there are any."""
    by_path: dict[str, list[str]] = {}
    for p in problems:
        by_path.setdefault(p.split(": ", 1)[0], []).append(p)
    keep = []
    for p in problems:
        siblings = by_path[p.split(": ", 1)[0]]
        generic = ": Input should be a valid " in p
        if generic and any(": Input should be a valid " not in s for s in siblings):
            continue
        keep.append(p)
    return keep
