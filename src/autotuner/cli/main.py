"""The ``autotuner`` command: a thin layer over the packages."""

from __future__ import annotations

import sys

import typer

from .bench_cmd import bench
from .doctor_cmd import doctor
from .engines_cmd import engines_app
from .export_cmd import export
from .k8s_cmd import cleanup, render
from .predict_cmd import predict
from .plan_cmd import plan
from .report_cmd import report, show
from .run_cmd import run, validate
from .serve_cmd import serve, worker

app = typer.Typer(help="Find the best serving configuration of an LLM inference engine.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.command("run")(run)
app.command("validate")(validate)
app.command("bench")(bench)
app.command("serve")(serve)
app.command("worker")(worker)
app.command("render")(render)
app.command("cleanup")(cleanup)
app.command("report")(report)
app.command("show")(show)
app.command("export")(export)
app.command("predict", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(predict)
app.command("plan")(plan)
engines_app.command("doctor")(doctor)
app.add_typer(engines_app, name="engines")


@app.command("sim", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             add_help_option=False)
def sim(ctx: typer.Context) -> None:
    """Run the simulated engine: an OpenAI-compatible server taking SGLang's or vLLM's own flags."""
    from ..sim.cli import main as sim_main
    from .sim_help import sim_help, wants_help
    if wants_help(list(ctx.args)):
        typer.echo(sim_help(list(ctx.args)))
        raise typer.Exit(0)
    raise typer.Exit(sim_main(list(ctx.args)))


def normalize_argv(argv: list[str]) -> list[str]:
    """``--simulate`` takes an optional GPU name; without one it means the H100."""
    from ..hardware.gpus import GPUS

    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--simulate" and (i + 1 >= len(out) or out[i + 1] not in GPUS):
            out.insert(i + 1, "h100")
            break
    return out


def main(argv: list[str] | None = None) -> None:
    args = normalize_argv(sys.argv[1:] if argv is None else argv)
    app(args=args, prog_name="autotuner")


if __name__ == "__main__":
    main()
