"""``autotuner serve`` (REST API, live events and web UI) and ``autotuner worker`` (runs queued tasks)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import typer
from rich.console import Console


console = Console()
err_console = Console(stderr=True)
DEFAULT_DB = "sqlite:///autotuner.db"  # store.DEFAULT_DB, spelled out: importing SQLAlchemy slows every command


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (off loopback needs AUTOTUNER_TOKEN)"),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port"),
    db: str = typer.Option(DEFAULT_DB, "--db", help="SQLAlchemy URL or SQLite file (shared with workers)"),
    workers: int = typer.Option(1, "--workers", min=0, max=64,
                                help="tasks run at once in this process (0: leave them to `autotuner worker`)"),
    out: Path = typer.Option(Path("runs"), "--out", help="results and engine logs directory"),
    lease_seconds: float = typer.Option(30.0, "--lease-seconds", min=1.0,
                                        help="a crashed worker's task is taken over after this long"),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level: critical, error, warning, info, debug"),
) -> None:
    """Serve the REST API (/docs), the live event stream and the web UI; run queued tasks."""
    import uvicorn

    from ..api.app import create_app
    from ..api.auth import check_bind, is_loopback, token_from_env

    token = token_from_env()
    try:
        check_bind(host, token)
    except ValueError as e:
        err_console.print(f"[red]{e}[/red]", highlight=False)
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(db, workers=workers, token=token, out_dir=out, lease_seconds=lease_seconds,
                     loopback_only=is_loopback(host))  # DNS rebinding guard
    shown = f"[{host}]" if ":" in host else host
    console.print(f"autotuner serving on http://{shown}:{port}/ (API docs: /docs; database {app.state.store.url}; "
                  f"{workers} embedded worker{'s' if workers != 1 else ''})", highlight=False, soft_wrap=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
    finally:
        app.state.store.dispose()  # checkpoints SQLite's log into the .db file


def worker(
    db: str = typer.Option(DEFAULT_DB, "--db", help="SQLAlchemy URL or SQLite file (the server's database)"),
    name: str | None = typer.Option(None, "--name", help="worker name (default host:pid)"),
    lease_seconds: float = typer.Option(30.0, "--lease-seconds", min=1.0,
                                        help="how long a claim lasts without a heartbeat"),
    poll_seconds: float = typer.Option(1.0, "--poll-seconds", min=0.05, help="how often to look for queued tasks"),
    once: bool = typer.Option(False, "--once", help="run at most one task, then exit"),
    join: bool = typer.Option(True, "--join/--no-join",
                              help="with nothing queued, help run another worker's task (experiments are leased)"),
) -> None:
    """Run queued tasks from the database (add as many as there are GPU pools)."""
    from ..service.worker import Worker
    from ..store import Store

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    w = Worker(Store(db), name, lease_seconds, poll_seconds, on_event=_print_event, join=join)
    stopping = threading.Event()

    def on_signal(signum, _frame) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()
        console.print("stopping: the running task is interrupted and queued again (signal again to force)")
        w.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    console.print(f"worker {w.name} waiting for tasks in {w.store.url}", highlight=False)
    try:
        if once:
            w.run_once()
        else:
            w.serve_forever()
    finally:
        w.store.dispose()  # checkpoints SQLite's log into the .db file


def _print_event(kind: str, data: dict) -> None:
    exp = data.get("experiment")
    if kind == "experiment_finished":
        console.print(f"experiment {exp} {data.get('status')}: score {data.get('score')}", highlight=False)
    elif kind == "best_changed":
        console.print(f"new best: experiment {exp}, score {data.get('score')}", highlight=False)
