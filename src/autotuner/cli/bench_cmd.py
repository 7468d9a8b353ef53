"""``autotuner bench``: drive an OpenAI-compatible server through load levels and print the metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich.live import Live

from ..bench.result import LevelResult
from ..spec.scenarios import parse_scenario
from .options import parse_slo as _slo, usage_error as _fail
from ..jsonsafe import json_safe as finite
from .screen import Column, Fitted, fit_table, make_console, say

console = make_console()
err_console = make_console(stderr=True)

_COLUMNS = (  # header, metric, scale, format, priority (higher stays when the width is short)
    ("req/s", "request_throughput", 1, "{:.2f}", 70),
    ("out tok/s", "output_throughput", 1, "{:.1f}", 95),
    ("TTFT p50", "ttft_p50", 1000, "{:.1f}", 60),
    ("TTFT p90", "ttft_p90", 1000, "{:.1f}", 90),
    ("TPOT p50", "tpot_p50", 1000, "{:.2f}", 55),
    ("TPOT p90", "tpot_p90", 1000, "{:.2f}", 85),
    ("ITL p90", "itl_p90", 1000, "{:.2f}", 50),
    ("E2E p90", "e2e_p90", 1000, "{:.0f}", 65),
    ("success", "success_rate", 100, "{:.0f}%", 80),
)
TITLE = "benchmark (latencies in ms)"


def _numbers(text: str, flag: str, kind: type) -> list:
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            value = kind(part)
        except ValueError:
            raise _fail(f"{flag}: {part!r} is not a {'whole number' if kind is int else 'number'}; "
                        f"expected a comma list such as {'1,8,32' if kind is int else '0.5,2,8'}") from None
        if not value > 0:
            raise _fail(f"{flag}: {part!r} must be greater than 0")
        out.append(value)
    return out


def _table(levels: list[LevelResult], scenarios: int) -> Fitted:
    """The levels as a table that fits the console (the least telling columns go first)."""
    columns = [Column("scenario", 98, cells=[lv.scenario for lv in levels])] if scenarios > 1 else []
    columns.append(Column("load", 99, cells=[_load(lv) for lv in levels]))
    rows = [_cells(lv) for lv in levels]
    for k, (header, _, _, _, priority) in enumerate(_COLUMNS):
        columns.append(Column(header, priority, "right", cells=[row[k] for row in rows]))
    return fit_table(columns, console.width, title=TITLE)


def _load(lv: LevelResult) -> str:
    return f"c={lv.concurrency}" if lv.concurrency is not None else f"{lv.rate:g} req/s"


def _cells(lv: LevelResult) -> list[str]:
    cells = []
    for _, metric, scale, fmt, _ in _COLUMNS:
        value = lv.metrics.get(metric, math.nan)
        cells.append("-" if math.isnan(value) else fmt.format(value * scale))
    return cells


def _line(lv: LevelResult) -> str:
    """One level as a log line, for output that is not a terminal."""
    pairs = (f"{header} {cell}" for (header, *_), cell in zip(_COLUMNS, _cells(lv), strict=True))
    return f"{lv.scenario} {_load(lv)} (ms): " + ", ".join(pairs)


def bench(
    url: str = typer.Option(..., "--url", help="server base URL, e.g. http://127.0.0.1:8000"),
    model: str = typer.Option(..., "--model", help="model name the server serves"),
    scenario: list[str] = typer.Option(["D(128,128)"], "--scenario",
                                       help="traffic scenario (repeatable): D(in,out), N(..)/(..), U(..)/(..), "
                                            "P(prefix,suffix)/out, E(tokens)"),
    concurrency: str = typer.Option("", "--concurrency", help="comma list, e.g. 1,8,32"),
    rate: str = typer.Option("", "--rate", help="comma list of req/s"),
    num_requests: Optional[int] = typer.Option(None, "--num-requests", help="requests per level"),
    duration: Optional[float] = typer.Option(None, "--duration", help="seconds per level"),
    warmup: int = typer.Option(0, "--warmup", help="warm-up requests per level (not measured)"),
    api: str = typer.Option("chat", "--api", help="chat or completions"),
    slo: list[str] = typer.Option([], "--slo", help="latency/rate target for goodput, e.g. ttft_p90=1.0"),
    seed: int = typer.Option(0, "--seed"),
    dataset: Optional[Path] = typer.Option(None, "--dataset", help="JSONL prompts instead of synthetic ones"),
    timeout: float = typer.Option(600.0, "--timeout", help="seconds per request"),
    num_gpus: int = typer.Option(1, "--num-gpus", help="for output tokens/s per GPU"),
    workers: Optional[int] = typer.Option(None, "--workers", help="client processes sending the load "
                                          "(default: cores - 1, at least 2, at concurrency >= 128 or rate >= 100/s, else 1)"),
    output: Optional[Path] = typer.Option(None, "--output", help="write the result JSON to this file "
                                          "(or to result.json inside this directory)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as one JSON object on stdout "
                                 "(latencies in seconds, as in --output; progress goes to stderr)"),
) -> None:
    """Benchmark an OpenAI-compatible server: streamed requests at each concurrency or rate level."""
    from ..bench.runner import benchmark
    from ..spec.workload import Workload

    for s in scenario:
        try:
            parse_scenario(s)
        except ValueError as e:
            raise _fail(f"--scenario: {e}") from None
    from ..bench.api_kinds import API_KINDS

    if api not in API_KINDS:
        raise _fail(f"--api {api!r} is not one of: {', '.join(API_KINDS)}")
    if warmup < 0:
        raise _fail("--warmup must be >= 0")
    if workers is not None and workers < 1:
        raise _fail("--workers must be >= 1")
    if num_requests is not None and num_requests < 1:
        raise _fail("--num-requests must be >= 1")
    if duration is not None and duration <= 0:
        raise _fail("--duration must be > 0")
    if dataset is not None and not dataset.is_file():
        raise _fail(f"--dataset {dataset}: no such file")
    try:
        workload = Workload(scenarios=scenario, concurrency=_numbers(concurrency, "--concurrency", int),
                            rates=_numbers(rate, "--rate", float), num_requests=num_requests, duration=duration,
                            warmup_requests=warmup, dataset=dataset)
    except ValidationError as e:
        raise _fail("; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())) from None
    targets = _slo(slo)

    screen = err_console if as_json else console
    done: list[LevelResult] = []
    live = (Live(_table(done, len(scenario)).table, console=screen, auto_refresh=False, transient=True)
            if screen.is_terminal else None)

    def on_level(level: LevelResult) -> bool:
        done.append(level)
        if live is not None:
            live.update(_table(done, len(scenario)).table, refresh=True)
        else:
            say(screen, _line(level))
        return True

    try:
        if live is not None:
            live.start()
        result = benchmark(url, model, workload, slo=targets, num_gpus=num_gpus, seed=seed, api=api,
                           request_timeout=timeout, on_level=on_level, workers=workers)
    except ValueError as e:  # e.g. a bad dataset line
        raise _fail(str(e)) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/yellow]")
        raise typer.Exit(130) from None
    finally:
        if live is not None:
            live.stop()
    if as_json:
        typer.echo(json.dumps(finite(result.to_dict())))
    else:
        _table(result.levels, len(scenario)).print(console)
    for lv in result.levels:
        for error in lv.errors + lv.warnings:
            err_console.print(f"[yellow]{lv.label}: {error}[/yellow]", highlight=False)
    if output is not None:
        if output.is_dir():
            output = output / "result.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result.to_dict(), indent=2, allow_nan=True) + "\n")
        screen.print(f"wrote {output}", highlight=False, soft_wrap=True)
    if result.levels and all(lv.metrics.get("success_rate", 0.0) == 0.0 for lv in result.levels):
        err_console.print("[red]every request failed[/red]")
        raise typer.Exit(1)
