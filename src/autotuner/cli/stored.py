"""Finding a task that ran before: by its file or its name, in the database of ``run``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..spec import SpecError, load_task

err_console = Console(stderr=True, soft_wrap=True)
DB_HELP = "SQLAlchemy URL or SQLite file (the one `run` used)"


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[red]{message}[/red]", highlight=False)
    return typer.Exit(code)


def stored_task(store, task: str):
    """The task row named by a task file (its ``name``) or by the name itself; exit 2 when unknown."""
    name = task
    path = Path(task)
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        try:
            name = load_task(path).name
        except SpecError as e:
            raise fail(str(e)) from None
    row = store.task_by_name(name)
    if row is None:
        known = ", ".join(sorted(r.name for r in store.tasks())[:10]) or "none"
        raise fail(f"TASK: no task {name!r} in the database {store.url}"
                   f" (tasks there: {known}); run it first: autotuner run {task}")
    return row
