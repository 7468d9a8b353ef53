"""Command-line values shared by several commands: refusing one (exit 2) and reading ``--slo``."""

from __future__ import annotations

import typer

from ..bench.metrics import metric_names
from .screen import make_console

err_console = make_console(stderr=True)


def usage_error(message: str) -> typer.Exit:
    """Print ``message`` and return the exit (2) to raise: a bad command-line value."""
    err_console.print(f"[red]{message}[/red]", highlight=False)
    return typer.Exit(2)


def parse_slo(items: list[str]) -> dict[str, float]:
    """``--slo METRIC=VALUE`` items as a dict; a bad item is refused naming the metrics allowed."""
    known = metric_names()
    slo: dict[str, float] = {}
    for item in items:
        metric, sep, value = item.partition("=")
        metric = metric.strip()
        if not sep or metric not in known:
            raise usage_error(f"--slo {item!r}: expected METRIC=VALUE with METRIC one of: {', '.join(known)}")
        try:
            slo[metric] = float(value)
        except ValueError:
            raise usage_error(f"--slo {item!r}: {value.strip()!r} is not a number") from None
    return slo
