"""Checks of a task's engine flags before anything is deployed.

Every flag in ``fixed_args`` and in the search space is checked against the flag catalog of the
task's engine version (name, type, choices, sign), and every parallel size in the space against the
GPUs the task has and the model's attention heads. ``--host`` and ``--port`` belong to the deployer.
"""

from __future__ import annotations

import re
from typing import Any

from ..spec.task import NumberRange, Task
from . import get_adapter
from .catalog import Catalog, CatalogError, load_catalog, nearest_version, validate_flags

DEPLOYER_FLAGS = ("host", "port")
CHECKED_GRID = 1000  # a range with more values is checked at its ends
# Numeric flags whose catalog says nothing of it, yet take a negative sentinel (sglang: -1 disables).
NEGATIVE_SENTINELS = {("sglang", "chunked-prefill-size"): (-1,)}
_MENTIONS_NEGATIVE = re.compile(r"(^|[\s(=:,])-\d|negative", re.IGNORECASE)


def _values(entry: Any) -> list[Any]:
    if isinstance(entry, NumberRange):
        grid = entry.values()
        return grid if grid is not None else [entry.low, entry.high]
    return list(entry)


def _checked_values(entry: Any) -> list[Any]:
    """The values to check a flag with; a long range's ends stand for what lies between them."""
    if isinstance(entry, NumberRange):
        steps = (entry.high - entry.low) / (entry.step or 1)
        if steps < CHECKED_GRID and (entry.step is not None or entry.is_integer):
            return _values(entry)
        ends = [entry.low, entry.high]
        return [int(v) for v in ends] if entry.is_integer else ends
    return list(dict.fromkeys(entry)) if all(_hashable(v) for v in entry) else list(entry)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def check_flags(engine: str, version: str | None, flags: dict[str, Any], where: str) -> list[str]:
    """``catalog.validate_flags`` with the engine's canonical names (``tp``...) mapped to its flags."""
    try:
        aliases = dict(get_adapter(engine).aliases)
    except ValueError:  # not a registered engine: nothing to map
        aliases = {}
    return validate_flags(engine, version, flags, where, aliases)


def flag_problems(task: Task) -> list[str]:
    owned = deployer_flag_problems(task)
    if owned:
        return owned
    problems = check_flags(task.engine, task.engine_version, task.fixed_args, "fixed_args")
    for flag, entry in task.search.space.items():
        for value in _checked_values(entry):
            for p in check_flags(task.engine, task.engine_version, {flag: value}, "search.space"):
                if p not in problems:
                    problems.append(p)
    problems += [p for p in sign_problems(task) if p.split(": ", 1)[0] not in {q.split(": ", 1)[0] for q in problems}]
    return problems + parallel_problems(task)


def _catalog(task: Task) -> Catalog | None:
    try:
        return load_catalog(task.engine, nearest_version(task.engine, task.engine_version))
    except CatalogError:
        return None


def _flag_name(task: Task, catalog: Catalog | None, key: str) -> str:
    """The catalog's name of a flag spelling (alias or canonical name), else the spelling."""
    name = key.lstrip("-")
    name = get_adapter(task.engine).aliases.get(name, name)
    found = catalog.lookup(name) if catalog is not None else None
    return found[0] if found else name


def deployer_flag_problems(task: Task) -> list[str]:
    """``host``/``port`` in fixed_args or the space: the deployer sets them, a task cannot."""
    catalog = _catalog(task)
    problems = []
    for where, flags in (("fixed_args", task.fixed_args), ("search.space", task.search.space)):
        for key in flags:
            if _flag_name(task, catalog, key) in DEPLOYER_FLAGS or key.lstrip("-") in DEPLOYER_FLAGS:
                problems.append(f"{where}.{key}: the deployer sets --host and --port itself (a free port per "
                                f"engine, on the address it serves); remove it from the task")
    return problems


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _negative_allowed(task: Task, name: str, entry: dict[str, Any], number: float) -> bool:
    if number in NEGATIVE_SENTINELS.get((task.engine, name), ()):
        return True
    default = _number(entry.get("default"))
    if default is not None and default < 0:
        return True
    return bool(_MENTIONS_NEGATIVE.search(entry.get("help") or ""))


def sign_problems(task: Task) -> list[str]:
    """Negative values of numeric flags that take none (the catalog's type, default and help say)."""
    catalog = _catalog(task)
    if catalog is None:
        return []
    checks = [("fixed_args", k, [v]) for k, v in task.fixed_args.items()]
    checks += [("search.space", k, _checked_values(e)) for k, e in task.search.space.items()]
    problems = []
    for where, key, values in checks:
        found = catalog.lookup(_flag_name(task, catalog, key))
        if found is None or found[1].get("type") not in ("int", "float") or found[1].get("bounds"):
            continue  # unknown (reported elsewhere), not a number, or bounds the catalog checks itself
        for value in values:
            number = _number(value)
            if number is not None and number < 0 and not _negative_allowed(task, found[0], found[1], number):
                problems.append(f"{where}.{key}: --{found[0]} takes no negative value (got {value!r}); "
                                f"it is a {'count or size' if found[1]['type'] == 'int' else 'non-negative number'}")
                break
    return problems


def _attention_heads(model_id: str) -> int | None:
    try:
        from ..hardware.models import load_model
        return int(load_model(model_id).num_attention_heads)
    except Exception:  # a model the built-in table does not know: the engine will say
        return None


def parallel_problems(task: Task) -> list[str]:
    """A parallel size in the space that no experiment could run with, and why."""
    adapter = get_adapter(task.engine)
    gpus = len(task.gpu_ids)
    heads = None
    problems = []
    for flag, entry in task.search.space.items():
        canonical = next((axis for axis, names in adapter.parallel_flags.items()
                          if adapter.canonical({flag: 1}).keys() & set(names)), None)
        if canonical is None:
            continue
        for value in _values(entry):
            size = int(value)
            if size > gpus:
                problems.append(f"search.space.{flag}: {size} needs {size} GPUs but the task has {gpus} "
                                f"(gpus: {task.gpus!r})")
            elif canonical == "tp" and size > 1:
                heads = heads if heads is not None else _attention_heads(task.model.id)
                if heads and heads % size:
                    problems.append(f"search.space.{flag}: tensor parallel size {size} does not divide the "
                                    f"{heads} attention heads of {task.model.id}; use a divisor of {heads}")
                elif gpus % size and not heads:
                    problems.append(f"search.space.{flag}: tensor parallel size {size} does not divide the "
                                    f"task's {gpus} GPUs")
    return problems
