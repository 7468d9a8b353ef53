"""``autotuner run`` and ``autotuner validate``."""

from __future__ import annotations

import math
import signal
import threading
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..spec import SpecError, load_task
from ..spec.task import Task

console = Console(width=None if Console().is_terminal else 160)
err_console = Console(stderr=True, soft_wrap=True)


def _load(path: Path, quiet: bool = False) -> Task:
    notes: list[str] = []
    try:
        task = load_task(path, notes)
    except SpecError as e:
        err_console.print(f"[red]{e}[/red]", highlight=False)
        raise typer.Exit(2)
    if notes and not quiet:
        console.print("[yellow]Read as an inference-autotuner (seed) task:[/yellow]")
        for n in notes:
            console.print(f"  {n}", highlight=False)
    return task


def validate(task_file: Path = typer.Argument(..., help="task file (YAML or JSON)")) -> None:
    """Check a task file; print every problem with its field path (exit 2 when invalid)."""
    task = _load(task_file)
    _refuse_problems(task_file, task)
    from ..search.space import grid_size
    size = grid_size(task.search.space)
    console.print(f"[green]valid[/green]: task {task.name!r}, engine {task.engine}, "
                  f"{'continuous' if math.isinf(size) else int(size)} configurations in the space, "
                  f"budget {task.search.max_experiments} experiments")


def _refuse_problems(task_file: Path, task: Task) -> None:
    from ..search.problems import task_problems
    problems = task_problems(task)
    if problems:
        err_console.print(f"[red]{SpecError(problems, str(task_file))}[/red]", highlight=False)
        raise typer.Exit(2)


def run(
    task_file: Path = typer.Argument(..., help="task file (YAML or JSON)"),
    simulate: Optional[str] = typer.Option(None, "--simulate", help="dry run on the simulated engine "
                                           "(GPU: h100, h200, a100, l40s; default h100)"),
    virtual_time: bool = typer.Option(False, "--virtual-time", help="with --simulate: no HTTP, no sleeping"),
    db: str = typer.Option("sqlite:///autotuner.db", "--db", help="SQLAlchemy URL or SQLite file"),
    out: Path = typer.Option(Path("runs"), "--out", help="results directory"),
    restart: bool = typer.Option(False, "--restart", help="forget earlier experiments of this task"),
    debug: bool = typer.Option(False, "--debug", help="print the traceback when the task fails with an error"),
) -> None:
    """Tune a task; resumes it when the same task already ran on this database."""
    task = _load(task_file)
    _refuse_problems(task_file, task)  # before importing Optuna and SQLAlchemy
    from ..report.results import write_results
    from ..search.session import RunOptions, execute, prepare_task
    from ..store import Store

    if virtual_time and simulate is None and task.simulate is None:
        simulate = "h100"
    options = RunOptions(simulate_gpu=simulate, virtual_time=virtual_time, out_dir=out, restart=restart)
    try:
        from ..search.session import check_runnable
        check_runnable(task, options)  # before the database exists: bad input writes no file
        store = Store(db)
        task_id = prepare_task(store, task, options)
    except SpecError as e:
        err_console.print(f"[red]{e}[/red]", highlight=False)
        raise typer.Exit(2)
    status = "failed"
    _sigterm_as_interrupt()
    with _ProgressView(task) as view:
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
    path = write_results(store, task_id, out)
    _print_summary(store, task_id, task)
    console.print(f"results: {path}")
    from ..report.html import write_report
    try:
        console.print(f"report: {write_report(store, task_id, out)}")
    except Exception as e:  # the report is a view of results.json: never what fails a run
        err_console.print(f"[yellow]report not written: {type(e).__name__}: {e}[/yellow]", highlight=False)
    # 130: the shell's convention for a run ended by Ctrl-C (SIGINT).
    raise typer.Exit(0 if status == "succeeded" else 130 if status == "cancelled" else 1)


def _sigterm_as_interrupt() -> None:
    """SIGTERM unwinds like Ctrl-C, so every engine is torn down on the way out."""
    def handler(signum, frame):  # noqa: ANN001
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


class _ProgressView:
    """Rich progress: experiment k of n, the current phase, the best so far."""

    def __init__(self, task: Task):
        self.task = task
        self.lock = threading.Lock()
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                                 TextColumn("{task.fields[phase]}"), TextColumn("{task.fields[best]}"),
                                 console=console, transient=False)
        self.bar = None

    def __enter__(self) -> "_ProgressView":
        self.progress.start()
        self.bar = self.progress.add_task(f"tuning {self.task.name}", total=self.task.search.max_experiments,
                                          phase="", best="")
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def on_event(self, kind: str, data: dict) -> None:
        with self.lock:
            exp = data.get("experiment")
            if kind == "experiment_started":
                label = "baseline (engine defaults)" if data.get("baseline") else _short(data.get("params", {}))
                self.progress.update(self.bar, phase=f"exp {exp}: {label}")
            elif kind == "experiment_phase":
                self.progress.update(self.bar, phase=f"exp {exp}: {data['phase']}")
            elif kind == "level_finished":
                m = data.get("metrics", {})
                self.progress.console.print(f"  exp {exp} {data['level']}: {_fmt(m.get('output_throughput'))} tok/s, "
                                            f"TTFT p90 {_fmt(m.get('ttft_p90'))} s", highlight=False)
            elif kind == "experiment_finished":
                if not data.get("baseline") and data.get("status") != "rejected":
                    self.progress.advance(self.bar)
                note = f" ({_headline(data['error'])})" if data.get("error") else ""
                self.progress.console.print(f"exp {exp} {data['status']}: {_short(data.get('params', {}))} "
                                            f"score {_fmt(data.get('score'))}{note}", highlight=False)
            elif kind == "best_changed":
                self.progress.update(self.bar, best=f"best {_fmt(data['score'])} (exp {exp})")


def _headline(error: str) -> str:
    """The line of an error that says what happened (an OOM's "out of memory" line first)."""
    lines = [ln.strip() for ln in error.splitlines() if ln.strip()]
    memory = next((ln for ln in lines if "memory" in ln.lower()), None)
    head = lines[0] if lines else ""
    if memory and memory != head:
        head = f"{head.split(':')[0]}: {memory}"
    return head[:100]


def _short(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _print_summary(store, task_id: int, task: Task) -> None:
    from ..report.results import best_experiment, launch_command

    exps = store.experiments(task_id)
    flags = list(task.search.space)
    table = Table(title=f"{task.name}: {len(exps)} experiments", show_lines=False)
    for col in ["id", "status", *flags, task.objective.metric, "ttft_p90", "tpot_p90", "note"]:
        table.add_column(col, overflow="fold", max_width=40 if col == "note" else None)
    for e in exps:
        values = ["default"] * len(flags) if e.baseline else [str(e.params.get(f, "")) for f in flags]
        note = "baseline (engine defaults)" if e.baseline else ""
        if e.error:
            note = _headline(e.error)
        table.add_row(str(e.id), e.status, *values, _fmt(e.metrics.get(task.objective.metric)),
                      _fmt(e.metrics.get("ttft_p90")), _fmt(e.metrics.get("tpot_p90")), note)
    console.print(table)
    best = best_experiment(task, exps)
    if best is None:
        console.print("[red]no configuration succeeded and met the SLO[/red]")
        return
    baseline = next((e for e in exps if e.baseline), None)
    if best.baseline:
        tried = [e for e in exps if not e.baseline and e.status == "succeeded" and e.score is not None]
        console.print(f"[green bold]best[/green bold] (experiment {best.id}): the engine's defaults; "
                      f"{task.objective.direction} {task.objective.metric} = {_fmt(best.score)}")
        if tried:
            runner_up = best_experiment(task, tried)
            console.print(f"no configuration tried beat the defaults: keep them (best tried: experiment "
                          f"{runner_up.id}, {_fmt(runner_up.score)})")
        else:
            console.print("no other configuration succeeded and met the SLO: keep the defaults")
    else:
        console.print(f"[green bold]best[/green bold] (experiment {best.id}): {_short(best.params)}; "
                      f"{task.objective.direction} {task.objective.metric} = {_fmt(best.score)}")
        if baseline is not None and baseline.status == "succeeded" and baseline.score:
            from ..report.gain import gain_summary
            from ..report.results import build_results
            gain = gain_summary(task, build_results(store, task_id))
            change = (best.score - baseline.score) / abs(baseline.score) * (1 if task.objective.maximize else -1)
            text = gain["text"] if gain else f"{100 * change:+.1f}%"
            console.print(f"vs baseline (experiment {baseline.id}, the engine's defaults): {text} "
                          f"({_fmt(baseline.score)} -> {_fmt(best.score)})", highlight=False)
        elif baseline is not None:
            console.print(f"baseline (experiment {baseline.id}, engine defaults): {baseline.status}")
    console.print(f"launch: {launch_command(task, best.params)}", highlight=False, soft_wrap=True)
