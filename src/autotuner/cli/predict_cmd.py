"""``autotuner predict``: what one benchmark level would measure, from the twin, with no server.

The engine's own flags follow the options (after ``--``), exactly as they would be passed to the
engine: ``autotuner predict sglang h100 meta-llama/Llama-3.1-8B -c 16 -- --tp-size 1``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.table import Table

from ..sim.errors import SimConfigError, SimStartupError

if TYPE_CHECKING:  # the twin is imported when the command runs: every other command starts faster
    from ..sim.predict import Prediction

console = Console()
err_console = Console(stderr=True)

_ROWS = (  # label, metric, scale, format
    ("TTFT mean / p50 / p90 (ms)", ("ttft_mean", "ttft_p50", "ttft_p90"), 1000, "{:.1f}"),
    ("TPOT mean / p50 / p90 (ms)", ("tpot_mean", "tpot_p50", "tpot_p90"), 1000, "{:.2f}"),
    ("E2E mean / p90 (s)", ("e2e_mean", "e2e_p90"), 1, "{:.2f}"),
    ("output tok/s (per GPU)", ("output_throughput", "output_throughput_per_gpu"), 1, "{:.1f}"),
    ("requests/s", ("request_throughput",), 1, "{:.2f}"),
    ("success", ("success_rate",), 100, "{:.0f}%"),
)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]{message}[/red]", highlight=False)
    return typer.Exit(2)


def _show(p: Prediction) -> None:
    load = f"{p.concurrency} concurrent users" if p.concurrency is not None else f"{p.rate:g} req/s (Poisson)"
    table = Table(title=f"{p.engine} on {p.num_gpus} x {p.gpu}: {p.model}, {p.scenario}, {load}")
    table.add_column("metric")
    table.add_column("predicted", justify="right")
    for label, names, scale, fmt in _ROWS:
        table.add_row(label, " / ".join(fmt.format(p.metrics[n] * scale) for n in names))
    mem = p.memory
    table.add_row("weights per GPU (GB)", f"{mem.weights_gb:.1f}")
    table.add_row("KV cache (tokens, all replicas)", f"{mem.kv_capacity_tokens:,}")
    table.add_row("max concurrency before queueing", f"{mem.max_concurrency:,}")
    console.print(table)
    console.print(f"cost model: {p.cost_model_note or p.cost_model}", highlight=False)


def predict(ctx: typer.Context,
            engine: str = typer.Argument(..., help="sglang or vllm"),
            gpu: str = typer.Argument(..., help="h100, h200, a100, l40s, b200, b300, gb200 (or *_sxm)"),
            model: str = typer.Argument(..., help="a Hugging Face id the twin knows, or a folder with config.json"),
            scenario: str = typer.Option("D(1024,256)", "--scenario", "-s", help="request shape, e.g. D(1024,256)"),
            concurrency: Optional[int] = typer.Option(None, "--concurrency", "-c", help="closed-loop users"),
            rate: Optional[float] = typer.Option(None, "--rate", "-r", help="open-loop Poisson requests/s"),
            num_requests: Optional[int] = typer.Option(None, "--num-requests", "-n", help="requests in the level"),
            seed: int = typer.Option(0, "--seed"),
            as_json: bool = typer.Option(False, "--json", help="print the prediction as JSON"),
            ) -> None:
    """Predict the benchmark of one configuration on the simulated engine (virtual time, no server).

    Engine flags go after `--`, as the engine takes them.
    """
    try:
        from ..sim.predict import predict as run_predict

        result = run_predict(engine, gpu, model, list(ctx.args), scenario, concurrency=concurrency, rate=rate,
                             num_requests=num_requests, seed=seed)
    except SimConfigError as e:
        raise _fail(str(e)) from None
    except SimStartupError as e:
        raise _fail(f"the engine would not start: {e}") from None
    except ValueError as e:
        raise _fail(str(e)) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _show(result)
