"""``kubectl lws history`` as text: one row per incarnation, newest first, with how it ended.

Under each row that ended: the last line of its termination message (for a Python traceback, the
exception) or what ended it, and the file holding its logs. Cluster text goes through
``render/safe.term``; the notes say where the history comes from and what it cannot know.
"""

from __future__ import annotations

from typing import Any

from kubectl_lws.model.incarnation import end_text
from kubectl_lws.model.timeutil import parse_time
from kubectl_lws.render.output import human_age, table
from kubectl_lws.render.safe import term

HEADERS = ("GROUP", "STARTED", "READY AFTER", "RAN FOR", "HOW IT ENDED", "NODE", "LEADER")
MESSAGE_LIMIT = 160


def _when(value: str | None) -> str:
    dt = parse_time(value)
    return dt.strftime("%Y-%m-%d %H:%M:%SZ") if dt else "-"


def _secs(value: Any) -> str:
    return human_age(value) if isinstance(value, (int, float)) else "-"


def _ended(inc: dict) -> str:
    end = inc.get("end")
    if end:
        return end_text(end) or str(end.get("kind"))
    return "running" if inc.get("current") else "-"


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def detail_lines(inc: dict) -> list[str]:
    """What to print under a row: the end's message or detail, and where its logs are."""
    out = []
    end = inc.get("end") or {}
    said = _last_line(end.get("message")) or end.get("detail") or ""
    if said:
        out.append(term(said, MESSAGE_LIMIT))
    logs = inc.get("logs") or []
    if logs:
        more = f" (+{len(logs) - 1} more)" if len(logs) > 1 else ""
        out.append(f"log: {term(logs[0])}{more}")
    if inc.get("rotated"):
        out.append(f"{len(inc['rotated'])} log file(s) rotated away (--max-size)")
    return out


def _rows(doc: dict) -> tuple[list[str], int]:
    """The table of one LWS's incarnations with their detail lines, and how many ended."""
    rows: list[list[str]] = []
    details: list[list[str]] = []
    ended = 0
    for group in doc["groups"]:
        for inc in group["incarnations"]:
            end = inc.get("end") or {}
            leader = inc.get("leaderPod") or "?"
            uid = (inc.get("leaderUID") or "")[:8]
            rows.append([str(group["group"]), _when(inc.get("started")), _secs(inc.get("readyAfterSeconds")),
                         _secs(inc.get("ranForSeconds")), term(_ended(inc), 60), term(end.get("node") or "-"),
                         term(f"{leader} ({uid})" if uid else leader)])
            details.append(detail_lines(inc))
            ended += 0 if inc.get("current") else 1
    if not rows:
        return ["No incarnations known."], 0
    text = table(HEADERS, rows).split("\n")
    indent = " " * (text[0].index("STARTED"))
    lines = [text[0]]
    for line, extra in zip(text[1:], details):
        lines.append(line)
        lines.extend(indent + d for d in extra)
    return lines, ended


def _notes(docs: list[dict], unknown: list[str], note: str) -> list[str]:
    notes = []
    for doc in docs:
        for gap in doc.get("gaps") or []:
            notes.append(term(f"gap in the recording from {gap.get('from')} to {gap.get('to')}: {gap.get('reason')}"))
    notes += [term(said) for said in unknown]
    notes.append(term(note or ""))
    # dict.fromkeys: the children of a set share their recording's gaps
    return [""] + [f"NOTE: {n}" for n in dict.fromkeys(notes) if n]


def _source(doc: dict) -> str:
    source = doc.get("recording") or {}
    return f"a recording in {source.get('dir')}" if doc["source"] == "recording" else "the cluster"


def history_text(doc: dict) -> str:
    """The whole text view: a title, the rows with their detail lines, the notes."""
    body, ended = _rows(doc)
    lines = [term(f"{doc['namespace']}/{doc['name']}: {ended} ended incarnation(s), newest first "
                  f"(from {_source(doc)})"), "", *body]
    return "\n".join(lines + _notes([doc], doc.get("unknown") or [], doc.get("note") or ""))


def set_history_text(doc: dict) -> str:
    """``history ds/NAME``: a section per child LWS (slice, role, revision), then the notes once."""
    sections: list[str] = []
    total = 0
    for child in doc["children"]:
        body, ended = _rows(child)
        total += ended
        sections += ["", term(f"slice {child.get('slice')}, role {child.get('role')}, revision "
                              f"{child.get('revision')}: child LWS {child['name']} ({ended} ended)"), *body]
    unknown = [f"{child['name']}: {u}" for child in doc["children"] for u in child.get("unknown") or []] \
        + list(doc.get("unknown") or [])
    title = term(f"{doc['namespace']}/ds/{doc['name']}: {total} ended incarnation(s) in {len(doc['children'])} "
                 f"child LWS, newest first (from {_source(doc)})")
    return "\n".join([title, *sections] + _notes(doc["children"], unknown, doc.get("note") or ""))
