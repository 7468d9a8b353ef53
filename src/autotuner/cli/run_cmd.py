"""``autotuner run`` and ``autotuner validate``."""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

from ..spec import SpecError, load_task
from ..spec.task import Task
from .run_view import COUNTED, Numbering, ProgressView, best_line, print_summary
from ..jsonsafe import json_safe as finite
from .screen import make_console, say

console = make_console()
err_console = make_console(stderr=True)
JSON_HELP = "print one JSON object on stdout (everything else goes to stderr)"


def _load(path: Path) -> tuple[Task, list[str]]:
    """The task and the seed importer's mapping notes (printed); SpecError when invalid."""
    notes: list[str] = []
    task = load_task(path, notes)
    if notes:
        console.print("[yellow]Read as an inference-autotuner (seed) task:[/yellow]")
        for n in notes:
            say(console, f"  {n}", indent="      ")
    return task, notes


def _refuse(error: SpecError) -> None:
    err_console.print(f"[red]{error}[/red]", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@contextlib.contextmanager
def _stdout_for_json(enabled: bool):
    """With ``--json`` every human line (ours, Rich's, a library's print) goes to stderr; yields
    the real stdout for the one JSON object."""
    real = sys.stdout
    if not enabled:
        yield real
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield real


def _emit_json(stream, doc: dict) -> None:
    stream.write(json.dumps(finite(doc), default=str) + "\n")
    stream.flush()


def validate(task_file: Path = typer.Argument(..., help="task file (YAML or JSON)"),
             simulate: Optional[str] = typer.Option(None, "--simulate", help="check it for the simulated "
                                                    "engine too (GPU: h100, h200, a100, l40s; default h100)"),
             as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Check a task file; print every problem with its field path (exit 2 when invalid)."""
    from ..engines.servable import model_problems
    from ..search.problems import task_problems
    from ..search.space import grid_size

    with _stdout_for_json(as_json) as stdout:
        try:
            task, notes = _load(task_file)
            simulated = simulate is not None or task.simulate is not None
            problems = task_problems(task) + model_problems(task, simulated)
            if problems:
                raise SpecError(problems, str(task_file))
        except SpecError as e:
            if as_json:
                _emit_json(stdout, {"valid": False, "file": str(task_file), "problems": e.problems})
            _refuse(e)
        size = grid_size(task.search.space)
        configurations = None if math.isinf(size) else int(size)
        if as_json:
            _emit_json(stdout, {"valid": True, "file": str(task_file), "task": task.name, "engine": task.engine,
                                "model": task.model.id, "configurations": configurations,
                                "budget": task.search.max_experiments, "notes": notes})
            return
        console.print(f"[green]valid[/green]: task {task.name!r}, engine {task.engine}, "
                      f"{'continuous' if configurations is None else configurations} configurations in the "
                      f"space, budget {task.search.max_experiments} experiments", highlight=False)


def _refuse_problems(task_file: Path, task: Task) -> None:
    from ..search.problems import task_problems
    problems = task_problems(task)
    if problems:
        err_console.print(f"[red]{SpecError(problems, str(task_file))}[/red]", highlight=False)
        raise typer.Exit(2)


def run(
    task_file: Path = typer.Argument(..., help="task file (YAML or JSON)"),
    simulate: Optional[str] = typer.Option(None, "--simulate", help="dry run on the simulated engine "
                                           "(a GPU name, default h100; `autotuner sim --help` lists them)"),
    virtual_time: bool = typer.Option(False, "--virtual-time", help="with --simulate: no HTTP, no sleeping"),
    db: str = typer.Option("sqlite:///autotuner.db", "--db", help="SQLAlchemy URL or SQLite file"),
    out: Path = typer.Option(Path("runs"), "--out", help="results directory"),
    restart: bool = typer.Option(False, "--restart", help="forget earlier experiments of this task"),
    debug: bool = typer.Option(False, "--debug", help="print the traceback when the task fails with an error"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP + "; the object is results.json's "
                                 "document plus status and paths"),
) -> None:
    """Tune a task; resumes it when the same task already ran on this database."""
    with _stdout_for_json(as_json) as stdout:
        try:
            code, doc = _run(task_file, simulate, virtual_time, db, out, restart, debug)
        except SpecError as e:  # refused before anything started (exit 2)
            if as_json:
                _emit_json(stdout, {"status": "invalid", "file": str(task_file), "problems": e.problems})
            _refuse(e)
        if as_json:
            _emit_json(stdout, doc)
    raise typer.Exit(code)


def _run(task_file: Path, simulate, virtual_time: bool, db: str, out: Path, restart: bool,
         debug: bool) -> tuple[int, dict]:
    from ..search.problems import task_problems

    # a SpecError from here to prepare_task: the caller refuses the task (exit 2)
    task, _ = _load(task_file)
    problems = task_problems(task)  # before importing Optuna and SQLAlchemy: bad input is refused fast
    if problems:
        raise SpecError(problems, str(task_file))
    from ..engines.servable import model_problems
    from ..report.results import build_results, write_results
    from ..service.session import RunOptions, check_runnable, execute, prepare_task, simulation
    from ..store import Store

    if virtual_time and simulate is None and task.simulate is None:
        simulate = "h100"
    options = RunOptions(simulate_gpu=simulate, virtual_time=virtual_time, out_dir=out, restart=restart)
    # the model check first: a model the engine cannot load would fail every experiment
    problems = model_problems(task, simulated=simulation(task, options) is not None)
    if problems:
        raise SpecError(problems, str(task_file))
    check_runnable(task, options)  # before the database exists: bad input writes no file
    store = Store(db)
    before = None if restart else store.task_by_name(task.name)
    task_id = prepare_task(store, task, options)
    status = "failed"
    _sigterm_as_interrupt()
    done_before = store.count_experiments(task_id, list(COUNTED), baseline=False) if before else 0
    with ProgressView(task, console, Numbering(store, task_id), done_before) as view:
        try:
            status = execute(store, task, task_id, options, on_event=view.on_event)
        except KeyboardInterrupt:
            status = "cancelled"
            err_console.print("[yellow]interrupted: engines stopped, finished experiments kept; "
                              "run the same command again to resume[/yellow]")
        except Exception as e:  # recorded on the task by execute(); one line unless --debug
            if debug:
                raise
            status = "error"
            err_console.print(f"[red]task failed: {type(e).__name__}: {e}[/red] (--debug for the traceback)",
                              highlight=False)
    if before is not None and view.started == 0 and before.status in ("succeeded", "failed"):
        say(console, f"task {task.name} already finished ({done_before} experiments and the baseline; "
                     f"{best_line(store, task_id, task)}); --restart runs it again")
    path = write_results(store, task_id, out)
    print_summary(store, task_id, task, console)
    console.print(f"results: {path}", highlight=False, soft_wrap=True)
    doc = {"status": status, **build_results(store, task_id), "results_path": str(path), "report_path": None}
    from ..report.html import write_report
    try:
        doc["report_path"] = str(write_report(store, task_id, out))
        console.print(f"report: {doc['report_path']}", highlight=False, soft_wrap=True)
    except Exception as e:  # the report is a view of results.json: never what fails a run
        err_console.print(f"[yellow]report not written: {type(e).__name__}: {e}[/yellow]", highlight=False)
    # 130: the shell's convention for a run ended by Ctrl-C (SIGINT).
    return (0 if status == "succeeded" else 130 if status == "cancelled" else 1), doc


def _sigterm_as_interrupt() -> None:
    """SIGTERM unwinds like Ctrl-C, so every engine is torn down on the way out."""
    def handler(signum, frame):  # noqa: ANN001
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)
