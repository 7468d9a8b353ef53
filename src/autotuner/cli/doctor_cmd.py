"""``autotuner engines doctor``: which engines can run here, and why not."""

from __future__ import annotations

import typer


def doctor() -> None:
    """Say which engines are runnable on this machine and why not."""
    from ..engines.doctor import check_engines, gpu_engines, render

    statuses = check_engines()
    typer.echo(render(statuses))
    if not any(s.runnable for s in statuses if s.engine in gpu_engines()):
        typer.echo("no GPU engine can run here: add --simulate [GPU] to dry-run a task on the simulated engine")
