"""render/events and the status table's event columns, on fixed clocks (no cluster)."""

from __future__ import annotations

from datetime import timedelta

from kubectl_lws.model import events as E
from kubectl_lws.model.timeutil import parse_time
from kubectl_lws.render.events import events_table, watch_header, watch_line
from kubectl_lws.render.output import table

NOW = parse_time("2026-11-25T15:20:00Z")


def ev(uid: str, kind: str, name: str, reason: str, message: str, *, count: int = 1, type_: str = "Normal",
       first: str = "2026-11-25T15:15:35Z", last: str = "2026-11-25T15:15:45Z") -> dict:
    return {"metadata": {"uid": uid, "name": f"{name}.{uid}"}, "involvedObject": {"kind": kind, "name": name},
            "reason": reason, "message": message, "type": type_, "count": count, "firstTimestamp": first,
            "lastTimestamp": last}


def test_events_table_is_kubectl_shaped_and_matches_the_generic_table():
    raw = [ev("1", "StatefulSet", "q-1", "FailedCreate", "Create Pod q-1-1 in StatefulSet q-1 failed error: x",
              count=12, type_="Warning"),
           ev("2", "LeaderWorkerSet", "q", "AllGroupsReady", "All replicas are ready", first="2026-11-25T15:19:00Z",
              last="2026-11-25T15:19:00Z")]
    les = E.events_of_lws(E.normalize_all(raw), "q")
    text = events_table(les, NOW)
    lines = text.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "GROUP", "OBJECT", "MESSAGE"]
    assert lines[1].startswith("4m15s (x12 over 10s)   Warning   FailedCreate")
    assert "   1       StatefulSet/q-1" in lines[1]
    assert lines[2].split()[:5] == ["60s", "Normal", "AllGroupsReady", "-", "LeaderWorkerSet/q"]
    # same layout as the shared kubectl table helper
    from kubectl_lws.render.events import HEADERS, row

    assert text == table(HEADERS, [row(le, NOW) for le in les])
    assert "(x12 over 10s)   Warning  FailedCreate" in watch_line(les[0], NOW) and watch_header().startswith("LAST SEEN")


def test_recreated_cell():
    rec = E.Recreations(count=3, last=NOW - timedelta(minutes=5), loop=True)
    assert E.recreation_text(rec, NOW) == "3 (5m ago) loop"
    assert E.recreation_text(E.Recreations(), NOW) == "-" and E.recreation_text(None, NOW) == "-"
