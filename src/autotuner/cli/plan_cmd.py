"""``autotuner plan``: which GPUs, how many, which layout and engine flags serve a traffic under its
SLOs at the lowest cost, predicted by the simulated engine in virtual time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..hardware.gpus import GPUS
from .options import parse_slo as _slo, usage_error as _fail

WIDTH = 80
console = Console(width=WIDTH, soft_wrap=False)


def plan_table(ranked: list, limit: int, title: str) -> Table:
    """The best plans, in at most 80 columns (latencies in ms; * marks the Pareto front)."""
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, padding=(0, 1),
                  header_style="bold underline")
    for header, justify in (("#", "right"), ("gpu", "left"), ("engine", "left"), ("layout", "left"),
                            ("flags", "left"), ("rep", "right"), ("gpus", "right"), ("$/Mtok", "right"),
                            ("tok/s/g", "right"), ("ttft90", "right"), ("P", "left")):
        table.add_column(header, justify=justify, no_wrap=True)
    for i, p in enumerate(ranked[:limit], 1):
        ev = p.evaluation
        c = ev.candidate
        table.add_row(str(i), c.gpu, c.engine, c.layout, c.knob_label, str(ev.replicas), str(ev.total_gpus),
                      f"{p.cost_per_mtok:.3f}", f"{p.throughput_per_gpu:.0f}",
                      f"{ev.metrics.get('ttft_p90', float('nan')) * 1000:.0f}", "*" if p.pareto else "")
    return table


def plan(
    model: str = typer.Option(..., "--model", help="model id the simulated engine knows, or a folder with config.json"),
    scenario: str = typer.Option("D(1024,256)", "--scenario", help="request shape, genai-bench syntax"),
    rate: Optional[float] = typer.Option(None, "--rate", help="target requests/s (Poisson arrivals)"),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", help="target closed-loop users (instead of --rate)"),
    slo: list[str] = typer.Option([], "--slo", help="METRIC=LIMIT, seconds for latencies (repeat or comma list)"),
    gpus: str = typer.Option("h100,h200", "--gpus", help=f"comma list of: {', '.join(GPUS)}"),
    engines: str = typer.Option("sglang,vllm", "--engines", help="comma list of: sglang, vllm"),
    prices: Optional[Path] = typer.Option(None, "--prices", help="YAML gpu -> $/GPU-hour, replacing the shipped ones"),
    rank_by: str = typer.Option("cost", "--rank", help="cost ($ per million output tokens) | throughput (per GPU)"),
    top: int = typer.Option(15, "--top", min=1, help="rows to print"),
    max_replicas: int = typer.Option(64, "--max-replicas", help="give up on a configuration beyond this"),
    requests: int = typer.Option(40, "--requests", help="requests of the short prediction run"),
    workers: int = typer.Option(0, "--workers", help="processes (0: one per CPU, at most 8)"),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="print the whole plan as JSON"),
) -> None:
    """Rank GPU type x count x parallelism x key engine flags by cost per million output tokens and
    by throughput per GPU, with the replicas the target traffic needs and the Pareto front."""
    from ..planning import PlanInputError, PlanRequest, Traffic, make_plan
    from ..planning.planner import default_workers
    from ..planning.ranking import RANKINGS

    if rank_by not in RANKINGS:
        raise _fail(f"--rank: {rank_by!r} is not one of: {', '.join(RANKINGS)}")
    items = [part for item in slo for part in item.split(",") if part.strip()]
    request = PlanRequest(model=model, traffic=Traffic(scenario, rate=rate, concurrency=concurrency),
                          slo=_slo(items), gpus=[g.strip() for g in gpus.split(",") if g.strip()],
                          engines=[e.strip() for e in engines.split(",") if e.strip()], prices_file=prices,
                          max_replicas=max_replicas, num_requests=requests, seed=seed)
    progress = Progress(TextColumn("predicting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=Console(stderr=True), transient=True, disable=as_json)
    with progress:
        job = progress.add_task("plan", total=None)
        try:
            result = make_plan(request, workers=workers or default_workers(),
                               on_progress=lambda done, total: progress.update(job, completed=done, total=total))
        except PlanInputError as e:
            raise _fail(str(e)) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(rank_by), indent=2))
        return
    ranked = result.ranked(rank_by)
    load = f"{rate:g} req/s" if rate is not None else f"{concurrency} users"
    slo_text = ", ".join(f"{k} <= {v:g}" for k, v in request.slo.items()) or "no SLO"
    console.print(f"{model}: {load} of {scenario}, {slo_text}", highlight=False)
    console.print(f"{len(result.evaluations)} configurations predicted in {result.seconds:.1f} s; "
                  f"{len(ranked)} meet the SLOs", highlight=False)
    if not ranked:
        reasons = sorted({e.reason for e in result.evaluations if e.reason})
        console.print("none is feasible; e.g. " + "; ".join(reasons[:3]), highlight=False)
        raise typer.Exit(1)
    by = "cost per million output tokens" if rank_by == "cost" else "output throughput per GPU"
    console.print(plan_table(ranked, top, f"best by {by}"))
    front = [p for p in ranked if p.pareto]
    console.print("rep: replicas; tok/s/g: output tokens/s per GPU; ttft90: p90 TTFT in ms", highlight=False)
    console.print(f"P: * on the Pareto front of $/Mtok vs tok/s/g ({len(front)} plan{'s' if len(front) != 1 else ''})", highlight=False)
    best = ranked[0]
    c = best.evaluation.candidate
    flags = " ".join(f"--{k} {v}" for k, v in c.flags.items())
    console.print(f"best: {best.evaluation.replicas} x {c.engine} on {c.gpus} x {c.gpu} ({flags}): "
                  f"${best.cost_per_hour:.2f}/h, ${best.cost_per_mtok:.3f} per million output tokens",
                  highlight=False)
