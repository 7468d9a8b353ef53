"""``autotuner report`` (the shareable HTML page of a task) and ``autotuner show`` (one experiment in full)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .stored import DB_HELP, fail, stored_task

console = Console(soft_wrap=True)


def report(
    task: str = typer.Argument(..., help="the task file, or the task's name"),
    html: Optional[Path] = typer.Option(None, "--html", help="where to write the page "
                                        "(default: <out>/<task>/report.html)"),
    db: str = typer.Option("sqlite:///autotuner.db", "--db", help=DB_HELP),
    out: Path = typer.Option(Path("runs"), "--out", help="results directory"),
) -> None:
    """Write one self-contained HTML report of a task (opens offline: Plotly is inlined)."""
    from ..report.html import write_report
    from ..store import Store

    store = Store(db)
    row = stored_task(store, task)
    path = write_report(store, row.id, out, html)
    console.print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB)", highlight=False)


def show(
    task: str = typer.Argument(..., help="the task file, or the task's name"),
    experiment: int = typer.Argument(..., help="the experiment's number within the task (the # column)"),
    db: str = typer.Option("sqlite:///autotuner.db", "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the experiment's results document"),
) -> None:
    """Print one experiment in full: parameters, every metric, the whole error text and the log path."""
    from ..report.figures import numbered
    from ..report.results import build_results
    from ..report.units import fmt, label

    from ..store import Store
    store = Store(db)
    row = stored_task(store, task)
    experiments = numbered(build_results(store, row.id)["experiments"])
    if not 1 <= experiment <= len(experiments):
        raise fail(f"EXPERIMENT: task {row.name!r} has experiments 1 to {len(experiments)}; got {experiment}")
    e = experiments[experiment - 1]
    if as_json:
        typer.echo(json.dumps(e, indent=2, default=str))
        return
    kind = "baseline (engine defaults)" if e["baseline"] else e["status"]
    console.print(f"experiment #{e['n']} of task {row.name} (database id {e['id']}): {kind}", highlight=False)
    for k, v in (e.get("parameters") or {}).items():
        console.print(f"  --{k} {v}", highlight=False)
    if e.get("score") is not None:
        console.print(f"score: {e['score']:.6g}", highlight=False)
    for metric, value in (e.get("metrics") or {}).items():
        if isinstance(value, int | float):
            console.print(f"  {label(metric)}: {fmt(metric, value)}", highlight=False)
    if e.get("telemetry"):
        console.print(f"telemetry: {json.dumps(e['telemetry'])}", highlight=False)
    if e.get("log"):
        console.print(f"log: {e['log']}", highlight=False)
    if e.get("error"):
        console.print("error:", highlight=False)
        typer.echo(e["error"])
