"""Terminal output that fits: one console width rule and tables that choose their columns by width.

Piped output (CI logs) is as wide as ``COLUMNS`` says, 80 when unset. A table measures each column
(its header's longest word, its cells), drops the least important columns until the rest fit, and
names what it left out, so no header word is ever split and no line runs past the width.
"""

from __future__ import annotations

import os
import re
import shlex
import textwrap
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table
from rich.text import Text

DEFAULT_WIDTH = 80
GAP = 2  # spaces between columns (padding 1 each side, none at the edges)
_MIN_WRAP = 8  # a wrapping column is never narrower than this (or its longest header word)


def width() -> int:
    """The width output must fit: the terminal's, else ``COLUMNS``, else 80."""
    probe = Console()
    if probe.is_terminal:
        return probe.width
    try:
        return max(int(os.environ.get("COLUMNS", "")), 20)
    except ValueError:
        return DEFAULT_WIDTH


def make_console(stderr: bool = False) -> Console:
    return Console(width=width(), stderr=stderr)


def say(console: Console, text: str, indent: str = "    ") -> None:
    """A plain line, wrapped at the console width with a hanging indent."""
    for line in textwrap.wrap(text, width=console.width, subsequent_indent=indent, break_on_hyphens=False) or [""]:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


@dataclass
class Column:
    """One table column: ``priority`` decides which columns stay when space runs out (higher stays)."""

    header: str
    priority: int = 50
    justify: str = "left"
    wrap: bool = False  # may its cells wrap (at spaces; long words fold)?
    style: str | None = None
    cells: list[str] = field(default_factory=list)
    cap: int | None = None  # widen no further than this while other columns want room (wrapping columns)

    def full(self) -> int:
        return max([_cell_len(self.header), *(_cell_len(c) for c in self.cells)])

    def natural(self) -> int:
        return min(self.full(), max(self.cap, self.minimum_of_header())) if self.cap else self.full()

    def minimum_of_header(self) -> int:
        return max((len(w) for w in self.header.split()), default=1)

    def minimum(self) -> int:
        header_word = self.minimum_of_header()  # headers wrap at spaces only
        if self.wrap:
            return max(header_word, min(_MIN_WRAP, self.natural()))
        return max(header_word, *(_cell_len(c) for c in self.cells), 1)


def _cell_len(markup: str) -> int:
    return max((Text.from_markup(line).cell_len for line in markup.split("\n")), default=0)


@dataclass
class Fitted:
    table: Table
    left_out: list[str]

    def print(self, console: Console) -> None:
        console.print(self.table)
        if self.left_out:
            console.print(f"(left out to fit {console.width} columns: {', '.join(self.left_out)}; "
                          "a wider COLUMNS shows them)", highlight=False)


def fit_table(columns: list[Column], total: int, title: str | None = None) -> Fitted:
    """A table of ``columns`` (cells filled in) no wider than ``total`` characters."""
    kept = list(columns)
    left_out: list[str] = []
    while len(kept) > 1 and sum(c.minimum() for c in kept) + GAP * (len(kept) - 1) > total:
        drop = min(kept, key=lambda c: c.priority)
        kept.remove(drop)
        left_out.append(drop.header)
    widths = [c.minimum() for c in kept]
    spare = total - sum(widths) - GAP * (len(kept) - 1)
    for i in sorted(range(len(kept)), key=lambda i: -kept[i].priority):  # widen the important first
        grow = min(spare, max(0, kept[i].natural() - widths[i]))
        widths[i] += grow
        spare -= grow
    for i in sorted(range(len(kept)), key=lambda i: -kept[i].priority):  # room left: caps lifted
        grow = min(spare, max(0, kept[i].full() - widths[i]))
        widths[i] += grow
        spare -= grow
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, padding=(0, 1),
                  show_edge=False, header_style="bold")
    for col, w in zip(kept, widths, strict=True):
        header = "\n".join(textwrap.wrap(col.header, width=w, break_long_words=False)) or col.header
        table.add_column(header, justify=col.justify, width=w, no_wrap=not col.wrap,
                         overflow="fold", style=col.style)
    for row in zip(*(c.cells for c in kept), strict=True):
        table.add_row(*row)
    return Fitted(table, [c.header.replace("\n", " ") for c in columns if c.header in left_out])


def abbreviations(names: list[str], longest: int = 8) -> dict[str, str]:
    """Short column keys for long flag names: ``max-running-requests`` -> ``mrr`` (unique)."""
    out: dict[str, str] = {}
    for name in names:
        short = name if len(name) <= longest else "".join(p[0] for p in re.split(r"[-_]+", name) if p)
        base, n = short, 2
        while short in out.values():
            short, n = f"{base}{n}", n + 1
        out[name] = short
    return out


def command_lines(argv: list[str] | str, total: int, indent: str = "  ") -> list[str]:
    """A shell command folded at argument boundaries with `` \\`` so it still pastes as one command."""
    words = shlex.split(argv) if isinstance(argv, str) else list(argv)
    quoted = [shlex.quote(w) for w in words]
    lines: list[str] = []
    current = ""
    i = 0
    while i < len(quoted):
        piece = quoted[i]
        # a flag and its value stay together
        if piece.startswith("-") and i + 1 < len(quoted) and not quoted[i + 1].startswith("-"):
            piece, i = f"{piece} {quoted[i + 1]}", i + 1
        i += 1
        room = total - 2 - (len(indent) if lines else 0)
        if current and len(current) + 1 + len(piece) > room:
            lines.append(current)
            current = piece
        else:
            current = f"{current} {piece}" if current else piece
    if current:
        lines.append(current)
    return [(indent if k else "") + line + (" \\" if k < len(lines) - 1 else "") for k, line in enumerate(lines)]
