"""Machine-readable output (json, yaml, name) and plain tables, shared by every read command.

Tables are laid out as kubectl's: upper-case headers, columns
separated by at least three spaces, no borders.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence, TextIO

import click

from kubectl_lws.render.safe import Styled, term, term_block


def dump_json(data: Any, stream: TextIO | None = None) -> None:
    """Pretty JSON like ``kubectl -o json`` (2-space indent, trailing newline)."""
    (stream or sys.stdout).write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def dump_json_line(data: Any, stream: TextIO | None = None) -> None:
    """One compact JSON document per line (watch/stream modes), flushed so pipes see it at once."""
    out = stream or sys.stdout
    out.write(json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n")
    out.flush()


def dump_yaml(data: Any, stream: TextIO | None = None) -> None:
    import yaml

    (stream or sys.stdout).write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))


def emit(data: Any, output: str, stream: TextIO | None = None) -> bool:
    """Print ``data`` for json/yaml output; returns False for table-like outputs (caller renders)."""
    if output == "json":
        dump_json(data, stream)
        return True
    if output == "yaml":
        dump_yaml(data, stream)
        return True
    return False


_ANSI = None


def _visible_len(text: str) -> int:
    """Width of a cell as a terminal shows it: colour codes do not count."""
    global _ANSI
    if "\x1b" not in text:
        return len(text)
    if _ANSI is None:
        import re

        _ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\]8;[^\x1b]*\x1b\\\\")
    return len(_ANSI.sub("", text))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, no_headers: bool = False) -> Styled:
    """A kubectl-style table as text (no trailing newline): columns as wide as their widest cell
    (colour codes not counted), separated by three spaces, leading whitespace of a cell kept.

    Every cell goes through ``safe.term`` unless it is ``Styled`` (already safe, maybe coloured): cluster
    text in a table can never reach the terminal raw, whichever renderer built the rows.

    Our own few lines rather than tabulate: this is all of kubectl's format, and importing
    tabulate cost about a tenth of a small ``status`` (issue #14)."""
    cells = [[term(v) for v in row] for row in rows]
    if not cells:
        return Styled("" if no_headers else "   ".join(term(h).upper() for h in headers))
    if not no_headers:
        cells.insert(0, [term(h).upper() for h in headers])
    ncols = max(len(r) for r in cells)
    widths = [0] * ncols
    for row in cells:
        for i, cell in enumerate(row):
            w = _visible_len(cell)
            if w > widths[i]:
                widths[i] = w
    lines = []
    for row in cells:
        parts = [cell + " " * (widths[i] - _visible_len(cell)) for i, cell in enumerate(row)]
        parts += [" " * widths[i] for i in range(len(row), ncols)]
        lines.append("   ".join(parts).rstrip())
    return Styled("\n".join(lines))


def echo(text: object = "", *, err: bool = False, nl: bool = True) -> None:
    """The one way text reaches stdout (or stderr): ``Styled`` text (a renderer's output that went
    through ``render.safe``, our colours in it) as it is, anything else through ``safe.term_block``.

    Colour was decided before the text was built (``AppContext.use_color``): nothing is stripped here,
    so ``--color=always`` keeps its colours on a pipe and ``never`` has none to strip."""
    click.echo(text if isinstance(text, Styled) else term_block(text), err=err, nl=nl, color=True)


def echo_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, no_headers: bool = False) -> None:
    text = table(headers, rows, no_headers=no_headers)
    if text:
        echo(Styled(text))


def human_age(seconds: float | None) -> str:
    """kubectl's ages (apimachinery's HumanDuration): 45s, 5m2s, 11m, 3h12m, 2d4h, 400d, 3y2d."""
    if seconds is None:
        return "<unknown>"
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        years, days = h // (24 * 365), (h // 24) % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{h // (24 * 365)}y"
