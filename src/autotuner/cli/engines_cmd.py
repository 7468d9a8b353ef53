"""``autotuner engines ...``: the engines' flag catalogs (and, added separately, ``doctor``)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from ..engines.catalog import CatalogError, available_versions, load_catalog
from .screen import Column, fit_table, make_console

engines_app = typer.Typer(help="Engine flag catalogs and checks.", no_args_is_help=True)
console = make_console()
err_console = make_console(stderr=True)
MAX_CHOICES_SHOWN = 8
ENGINES_HELP = "sglang, vllm, llamacpp or trtllm"


@engines_app.command("flags")
def flags(
    engine: str = typer.Argument(..., help=ENGINES_HELP),
    version: str | None = typer.Option(None, "--version", help="release (default: newest shipped)"),
    search: str | None = typer.Option(None, "--search", help="only flags whose name, alias or help has this text"),
) -> None:
    """List an engine release's flags: name, type, choices and default."""
    catalog = _catalog(engine, version)
    needle = (search or "").lower()
    rows = [(name, entry) for name, entry in catalog.flags.items()
            if not needle or needle in name or needle in entry.get("help", "").lower()
            or any(needle in a for a in entry.get("aliases") or [])]
    columns = [Column("flag", 100, wrap=True, style="cyan", cap=34,
                      cells=[_spellings(name, entry) for name, entry in rows]),
               Column("type", 90, wrap=True, cap=11, cells=[escape(_type(entry)) for _, entry in rows]),
               Column("choices", 70, wrap=True, cells=[escape(_choices(entry)) for _, entry in rows]),
               Column("default", 80, wrap=True, cap=10, cells=[escape(_default(entry)) for _, entry in rows])]
    title = f"{catalog.engine} {catalog.version}: {len(rows)} of {len(catalog.flags)} flags"
    fit_table(columns, console.width, title=title).print(console)


@engines_app.command("versions")
def versions(engine: str = typer.Argument(..., help=ENGINES_HELP)) -> None:
    """The releases whose flag catalogs are shipped, newest first, with where each came from."""
    shipped = available_versions(engine)
    if not shipped:
        err_console.print(f"[red]no flag catalog is shipped for engine {engine!r}[/red]", highlight=False)
        raise typer.Exit(2)
    table = Table(title=f"{engine} flag catalogs", title_justify="left")
    for column in ("version", "flags", "source", "generated"):
        table.add_column(column)
    for version in reversed(shipped):
        catalog = load_catalog(engine, version)
        prov = catalog.provenance if isinstance(catalog.provenance, dict) else {"source": str(catalog.provenance)}
        table.add_row(version, str(len(catalog.flags)), str(prov.get("source", "")), str(prov.get("generated", "")))
    console.print(table)


# `doctor` (which engines can run here) is registered on engines_app by its own module.


def _catalog(engine: str, version: str | None):
    try:
        return load_catalog(engine, version)
    except CatalogError as exc:
        err_console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None


def _spellings(name: str, entry: dict[str, Any]) -> str:
    """The flag, then (dimmed, one per line) its ``--no-`` form and aliases."""
    others = ([f"--{entry['negation']}"] if entry.get("negation") else []) + list(entry.get("aliases") or [])
    return f"--{name}" + "".join(f"\n[dim]{escape(o)}[/dim]" for o in others)


def _type(entry: dict[str, Any]) -> str:
    kind = entry.get("type", "str")
    if kind == "list":
        kind = f"list[{entry.get('item_type', 'str')}]"
    if entry.get("format"):
        kind += f" ({entry['format']})"
    if entry.get("deprecated"):
        kind += " [deprecated]"
    return kind


def _choices(entry: dict[str, Any]) -> str:
    values = entry.get("choices") or []
    suffix = ""
    if not values and entry.get("known_values"):
        values, suffix = entry["known_values"], " (or any)"
    if not values:
        return ""
    shown = ", ".join(str(v) for v in values[:MAX_CHOICES_SHOWN])
    more = f", ... (+{len(values) - MAX_CHOICES_SHOWN})" if len(values) > MAX_CHOICES_SHOWN else ""
    return shown + more + suffix


def _default(entry: dict[str, Any]) -> str:
    value = entry.get("default")
    if value is None:
        return ""
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."
