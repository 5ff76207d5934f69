"""Machine-readable output (json, yaml, name) and plain tables, shared by every read command.

Tables use tabulate's ``plain`` format so they look like kubectl's: upper-case headers, columns
separated by at least three spaces, no borders.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence, TextIO

import click


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


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, no_headers: bool = False) -> str:
    """A kubectl-style table as text (no trailing newline): columns as wide as their widest cell
    (colour codes not counted), separated by three spaces, leading whitespace of a cell kept."""
    import tabulate as tab

    rows = [["" if v is None else v for v in row] for row in rows]
    if not rows:
        return "" if no_headers else "   ".join(h.upper() for h in headers)
    row_format = tab.DataRow("", "   ", "")
    kubectl_format = tab.TableFormat(lineabove=None, linebelowheader=None, linebetweenrows=None,
                                     linebelow=None, headerrow=row_format, datarow=row_format, padding=0,
                                     with_header_hide=None)
    saved = tab.MIN_PADDING
    tab.MIN_PADDING = 0  # tabulate pads headers by 2 by default; kubectl does not
    try:
        text = tab.tabulate(rows, headers=[] if no_headers else [h.upper() for h in headers],
                            tablefmt=kubectl_format, disable_numparse=True, stralign="left",
                            preserve_whitespace=True)
    finally:
        tab.MIN_PADDING = saved
    return "\n".join(line.rstrip() for line in text.splitlines())


def echo_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, no_headers: bool = False) -> None:
    text = table(headers, rows, no_headers=no_headers)
    if text:
        click.echo(text)


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
