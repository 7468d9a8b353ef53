"""``autotuner export``: the best configuration of a task as a runnable artefact."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .stored import DB_HELP, fail, stored_task


def export(
    task: str = typer.Argument(..., help="the task file, or the task's name"),
    kind: str = typer.Option("command", "--as", help="command | docker | kubernetes | ome | config"),
    db: str = typer.Option("sqlite:///autotuner.db", "--db", help=DB_HELP),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="write to this file, not stdout"),
) -> None:
    """Print the best configuration as a command line, `docker run`, Kubernetes Deployment + Service,
    OME InferenceService or engine config file, rendered by the deployers' own code."""
    from ..report.export import EXPORT_KINDS, ExportError
    from ..report.export import export as render_export
    from ..report.results import best_experiment
    from ..spec.task import Task
    from ..store import Store

    if kind not in EXPORT_KINDS:
        raise fail(f"--as: unknown export {kind!r}; allowed: {', '.join(EXPORT_KINDS)}")
    store = Store(db)
    row = stored_task(store, task)
    spec = Task.model_validate(row.spec)
    best = best_experiment(spec, store.experiments(row.id))
    if best is None:
        raise fail(f"task {row.name!r} has no configuration that succeeded and met the SLO: nothing to export", 1)
    try:
        text = render_export(spec, best.params, kind)
    except ExportError as e:
        raise fail(str(e)) from None
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"{kind}: {output}", err=True)
