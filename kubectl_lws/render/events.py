"""Text and JSON for ``kubectl lws events``: one timeline of an LWS's events with a GROUP column.

Pure functions of ``model.events.LwsEvent`` lists and a clock (unit-testable without a cluster).
LAST SEEN follows ``kubectl events``: the age of the last occurrence, then ``(x12 over 5m)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from kubectl_lws.model.events import LwsEvent, aggregate_text
from kubectl_lws.render.output import human_age, table
from kubectl_lws.render.safe import LINE, MESSAGE, Styled, style, term

HEADERS = ["LAST SEEN", "TYPE", "REASON", "GROUP", "OBJECT", "MESSAGE"]


def _last_seen(le: LwsEvent, now: datetime) -> str:
    ev = le.event
    when = ev.last or ev.first
    age = human_age((now - when).total_seconds()) if when else "<unknown>"
    agg = aggregate_text(ev, now)
    return f"{age} ({agg})" if agg else age


def _group_cell(le: LwsEvent) -> str:
    return "-" if le.group is None else str(le.group)


def row(le: LwsEvent, now: datetime) -> list[str]:
    """The cells of one event, every cluster word made safe and bounded (``-o json`` has it whole)."""
    ev = le.event
    return [term(_last_seen(le, now)), term(ev.type, LINE), term(ev.reason, LINE), _group_cell(le), term(ev.object, LINE),
            term(ev.message, MESSAGE)]


def events_table(items: Sequence[LwsEvent], now: datetime, *, color: bool = False) -> Styled:
    """kubectl's table layout (as render.output.table) without tabulate: a timeline can be thousands of
    rows and only the widths are needed, so this is a few string joins (``kubectl lws events`` budget)."""
    rows = [row(le, now) for le in items]
    if not rows:
        return table(HEADERS, [])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
    warn = style("Warning", color, fg="yellow")
    last = len(HEADERS) - 1
    lines = ["   ".join(h.ljust(widths[i]) if i < last else h for i, h in enumerate(HEADERS)).rstrip()]
    for r in rows:
        cells = [c.ljust(widths[i]) if i < last else c for i, c in enumerate(r)]
        if color and r[1] == "Warning":
            cells[1] = warn + " " * (widths[1] - len("Warning"))
        lines.append("   ".join(cells).rstrip())
    return Styled("\n".join(lines))  # every cell went through render.safe in row()


def watch_line(le: LwsEvent, now: datetime) -> str:
    """One line per event while following (columns fixed, so lines align without a table)."""
    last, type_, reason, group, obj, message = row(le, now)
    return f"{last:<22} {type_:<8} {reason:<20} {group:<5} {obj:<28} {message}"


def watch_header() -> str:
    return f"{'LAST SEEN':<22} {'TYPE':<8} {'REASON':<20} {'GROUP':<5} {'OBJECT':<28} MESSAGE"


def item_json(le: LwsEvent) -> dict:
    return {"group": le.group, "workerIndex": le.worker, **le.event.to_json()}


def events_doc(name: str, namespace: str, items: Sequence[LwsEvent], info: dict) -> dict:
    return {"kind": "LeaderWorkerSetEventList", "name": name, "namespace": namespace,
            "api": info.get("api"), "note": "events expire (kube-apiserver --event-ttl, 1h by default)",
            "items": [item_json(le) for le in items]}
