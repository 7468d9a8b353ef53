"""What ``autotuner run`` prints: progress lines as experiments finish, then the summary table.

Latencies are on screen in ms (files keep seconds) and every figure carries its unit. Experiments are
numbered within the task, the numbers ``autotuner show TASK N`` takes. Lines fit the console width:
long lines wrap with an indent, failure notes are one short reason plus a clipped headline.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..report.failure_cause import headline, no_best_message
from ..report.units import fmt, unit
from ..search.fast_start import fast_start_lines
from ..spec.task import Task
from .screen import Column, abbreviations, command_lines, fit_table, say

COUNTED = ("succeeded", "infeasible", "failed", "pruned")  # what the budget counts (not rejected)


def short_reason(e: Any) -> str:
    """A reason code for a table cell: ``oom``, ``crash``, ``slo ttft_p90``, ``pruned``, ``baseline``."""
    if e.status == "failed":
        reason = (e.extra or {}).get("reason") or headline(e.error).split(":")[0]
        return reason or "failed"
    if e.status == "infeasible":
        missed = re.findall(r"(\w+) = ", (e.error or "").removeprefix("SLO not met: "))
        return "slo " + ",".join(missed) if missed else "slo"
    if e.status == "pruned":
        return "pruned"
    if e.status == "rejected":
        return "rejected"
    return "baseline" if e.baseline else ""


def value(metric: str, v: Any) -> str:
    """A metric with its on-screen unit: ``87.8 ms``, ``1711 tok/s/GPU``."""
    return fmt(metric, v, with_unit=True)


def shown_metrics(task: Task) -> list[str]:
    """The latencies worth a column: the SLO's, else TTFT and TPOT at p90."""
    slo = [m for m in task.slo if m != task.objective.metric]
    return slo or ["ttft_p90", "tpot_p90"]


class Numbering:
    """Database ids to numbers within the task (the ``#`` of tables and ``autotuner show``)."""

    def __init__(self, store, task_id: int):
        self.store, self.task_id, self.known = store, task_id, {}

    def __call__(self, exp_id: Any) -> Any:
        if exp_id not in self.known:
            ids = sorted(e.id for e in self.store.experiments(self.task_id))
            self.known = {i: n for n, i in enumerate(ids, start=1)}
        return self.known.get(exp_id, exp_id)


class ProgressView:
    """A progress bar on a terminal (started at the first experiment, counting those done before);
    plain log lines elsewhere."""

    def __init__(self, task: Task, console: Console, numbering: Numbering, done_before: int):
        self.task, self.console, self.number = task, console, numbering
        self.done_before = done_before
        self.lock = threading.Lock()
        self.progress: Progress | None = None
        self.bar = None
        self.started = 0

    def __enter__(self) -> "ProgressView":
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def _start_bar(self) -> None:
        if not self.console.is_terminal or self.progress is not None:
            return
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                                 TextColumn("{task.fields[phase]}"), TextColumn("{task.fields[best]}"),
                                 console=self.console, transient=True)
        self.progress.start()
        self.bar = self.progress.add_task(f"tuning {self.task.name}", total=self.task.search.max_experiments,
                                          completed=self.done_before, phase="", best="")

    def _update(self, **fields) -> None:
        if self.progress is not None:
            self.progress.update(self.bar, **fields)

    def on_event(self, kind: str, data: dict) -> None:
        with self.lock:
            n = self.number(data.get("experiment"))
            if kind == "experiment_started":
                self.started += 1
                self._start_bar()
                what = "baseline (engine defaults)" if data.get("baseline") else _params(data.get("params", {}))
                self._update(phase=f"#{n}")
                say(self.console, f"#{n} started: {what}")
            elif kind == "experiment_phase":
                self._update(phase=f"#{n}: {data['phase']}")
            elif kind == "level_finished":
                say(self.console, f"  #{n} {self._level(data['level'])}: {self._level_figures(data.get('metrics', {}))}")
            elif kind == "experiment_finished":
                if not data.get("baseline") and data.get("status") != "rejected" and self.progress is not None:
                    self.progress.advance(self.bar)
                say(self.console, self._finished_line(n, data))
            elif kind == "fast_start":
                for line in fast_start_lines(data):
                    say(self.console, line)
            elif kind == "best_changed":
                self._update(best=f"best {value(self.task.objective.metric, data['score'])} (#{n})")

    def _level(self, label: str) -> str:
        scenarios = self.task.workload.scenarios
        return label.replace(f"{scenarios[0]} ", "") if len(scenarios) == 1 else label

    def _level_figures(self, metrics: dict) -> str:
        objective = self.task.objective.metric
        parts = [value(objective, metrics[objective])] if metrics.get(objective) is not None else []
        if objective != "output_throughput" and metrics.get("output_throughput") is not None:
            parts.append(f"total {value('output_throughput', metrics['output_throughput'])}")
        parts += [f"{m} {value(m, metrics[m])}" for m in shown_metrics(self.task) if metrics.get(m) is not None]
        return ", ".join(parts)

    def _finished_line(self, n: Any, data: dict) -> str:
        status = data.get("status")
        score = data.get("score")
        line = f"#{n} {status}"
        if score is not None:
            line += f": score {value(self.task.objective.metric, score)}"
        if data.get("error"):
            room = max(20, 2 * self.console.width - len(line) - 12)  # at most two lines
            note = on_screen_units(headline(data["error"]))
            line += f" ({note if len(note) <= room else note[: room - 1] + '…'})"
        return line


_SLO_MISS = re.compile(r"(\w+) = ([-+.\deE]+) \(limit ([-+.\deE]+)\)")


def on_screen_units(text: str) -> str:
    """An SLO message (stored in seconds) with the screen's units: ``ttft_p90 = 114.6 ms (limit 100 ms)``."""
    def convert(m: re.Match) -> str:
        metric, got, limit = m.group(1), float(m.group(2)), float(m.group(3))
        return f"{metric} = {value(metric, got)} (limit {value(metric, limit)})"
    return _SLO_MISS.sub(convert, text)


def _params(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def summary_table(task: Task, exps: list, console: Console) -> None:
    """Experiments as a table chosen to fit the console; flags abbreviated (with a key) when needed."""
    flags = list(task.search.space)
    objective = task.objective.metric
    latencies = shown_metrics(task)
    for names in (None, abbreviations(flags)):
        columns = [Column("#", 100, "right", cells=[str(i) for i in range(1, len(exps) + 1)]),
                   Column("status", 90, cells=[e.status for e in exps])]
        for k, flag in enumerate(flags):
            cells = ["-" if e.baseline else str(e.params.get(flag, "")) for e in exps]  # "-": engine default
            columns.append(Column(names[flag] if names else flag, 80 - k, cells=cells))
        columns.append(Column(f"score\n{unit(objective)}".strip(), 95, "right",
                              cells=[fmt(objective, e.metrics.get(objective)) for e in exps]))
        for k, metric in enumerate(latencies):
            columns.append(Column(f"{metric}\n{unit(metric)}".strip(), 60 - k, "right",
                                  cells=[fmt(metric, e.metrics.get(metric)) for e in exps]))
        columns.append(Column("reason", 70, wrap=True, cells=[short_reason(e) for e in exps]))
        fitted = fit_table(columns, console.width, title=f"{task.name}: {len(exps)} experiments "
                                                         f"(score = {objective})")
        if not fitted.left_out or names is not None:
            break
    fitted.print(console)
    if names is not None:
        key = ", ".join(f"{short} = {flag}" for flag, short in names.items() if short != flag)
        if key:
            say(console, f"columns: {key}")
    if any(e.error for e in exps):
        say(console, f"full reasons: autotuner show {task.name} N (N from the # column)")


def best_line(store, task_id: int, task: Task) -> str:
    """``best #17: 10,811 tok/s/GPU`` (or why there is none), for one-line messages."""
    from ..report.results import best_experiment

    exps = sorted(store.experiments(task_id), key=lambda e: e.id)
    best = best_experiment(task, exps)
    if best is None:
        return no_best_message(exps)
    n = [e.id for e in exps].index(best.id) + 1
    what = "the engine's defaults" if best.baseline else _params(best.params)
    return f"best #{n}: {value(task.objective.metric, best.score)}, {what}"


def print_summary(store, task_id: int, task: Task, console: Console) -> None:
    from ..report.results import best_experiment, launch_command

    exps = sorted(store.experiments(task_id), key=lambda e: e.id)
    summary_table(task, exps, console)
    number = {e.id: i for i, e in enumerate(exps, start=1)}
    best = best_experiment(task, exps)
    metric = task.objective.metric
    if best is None:
        console.print(f"[red]{no_best_message(exps)}[/red]", highlight=False)
        return
    baseline = next((e for e in exps if e.baseline), None)
    if best.baseline:
        tried = [e for e in exps if not e.baseline and e.status == "succeeded" and e.score is not None]
        say(console, f"best (experiment #{number[best.id]}): the engine's defaults; {task.objective.direction} "
                     f"{metric} = {value(metric, best.score)}")
        if tried:
            runner_up = best_experiment(task, tried)
            say(console, f"no configuration tried beat the defaults: keep them (best tried: "
                         f"#{number[runner_up.id]}, {value(metric, runner_up.score)})")
        else:
            say(console, "no other configuration succeeded and met the SLO: keep the defaults")
    else:
        say(console, f"best (experiment #{number[best.id]}): {_params(best.params)}; {task.objective.direction} "
                     f"{metric} = {value(metric, best.score)}")
        if baseline is not None and baseline.status == "succeeded" and baseline.score:
            from ..report.gain import gain_summary
            from ..report.results import build_results
            gain = gain_summary(task, build_results(store, task_id))
            change = (best.score - baseline.score) / abs(baseline.score) * (1 if task.objective.maximize else -1)
            text = gain["text"] if gain else f"{100 * change:+.1f}%"
            say(console, f"vs baseline (#{number[baseline.id]}, the engine's defaults): {text} "
                         f"({value(metric, baseline.score)} -> {value(metric, best.score)})")
        elif baseline is not None:
            say(console, f"baseline (#{number[baseline.id]}, engine defaults): {baseline.status}")
    console.print("launch:", highlight=False)
    for line in command_lines(launch_command(task, best.params), console.width, indent="    "):
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
