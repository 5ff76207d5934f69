"""Table for ``verify runtime``: one block per group, passing checks folded, every problem in full with
its template (leader/worker), flag, expected and actual value."""

from __future__ import annotations

import re

from kubectl_lws.render.output import echo, table
from kubectl_lws.render.safe import LINE, MESSAGE, Styled, term
from kubectl_lws.render.verify import _cut, _indent, _status

HEADERS = ["check", "status", "template", "pod", "flag", "expected", "actual", "message"]


def _rows(group: dict, color: bool) -> list[list[str]]:
    rows: list[list[str]] = []
    order: list[str] = []
    for f in group["findings"]:
        if f["check"] not in order:
            order.append(f["check"])
    for check in order:
        items = [f for f in group["findings"] if f["check"] == check]
        good = [f for f in items if f["status"] == "PASS"]
        if len(good) == 1:
            g = good[0]
            rows.append([check, _status("PASS", color), g.get("template", ""), _cut(g.get("pod", ""), 40),
                         g.get("flag", ""), _cut(g.get("expected"), 40), _cut(g.get("actual"), 40),
                         _cut(g["message"], 90)])
        elif good:
            templates = sorted({g.get("template", "") for g in good} - {""})
            rows.append([check, _status("PASS", color), ",".join(templates), "", good[0].get("flag", ""), "", "",
                         f"{len(good)}/{len(items)} ok"])
        info = [f for f in items if f["status"] == "INFO"]
        if len(info) > 1:  # "not recognised" on every pod of a big group: one row says it
            templates = sorted({f.get("template", "") for f in info} - {""})
            rows.append([check, "INFO", ",".join(templates), f"{len(info)} pods", info[0].get("flag", ""),
                         "", _cut(info[0].get("actual"), 40), _cut(info[0]["message"], 120)])
        for f in items:
            if f["status"] == "PASS" or (f["status"] == "INFO" and len(info) > 1):
                continue
            rows.append([check, _status(f["status"], color), f.get("template", ""), _cut(f.get("pod", ""), 40),
                         f.get("flag", ""), _cut(f.get("expected"), 40), _cut(f.get("actual"), 40),
                         _cut(f["message"], 120)])
    return rows


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _layout(headers: list[str], rows: list[list[str]]) -> list[str]:
    """The same text as ``render.output.table`` (columns as wide as their widest cell, three-space gaps,
    colour codes not counted, lines right-stripped, every cell not Styled through ``safe.term``), in one
    pass: thousands of rows, no tabulate."""
    if not rows:
        return table(headers, rows).splitlines()
    cells = [[h.upper() for h in headers]] + [[term(v) for v in row] for row in rows]
    widths = [max(len(_ANSI.sub("", r[i])) if "\x1b" in r[i] else len(r[i]) for r in cells)
              for i in range(len(headers))]
    out = []
    for r in cells:
        parts = [c + " " * (w - (len(_ANSI.sub("", c)) if "\x1b" in c else len(c))) for c, w in zip(r, widths)]
        out.append("   ".join(parts).rstrip())
    return out


def render_runtime(report: dict, color: bool = False) -> None:
    """One block per group; the columns are aligned across all groups (one table, so 512 groups cost one
    layout pass, not 512)."""
    out: list[str] = []
    for note in report.get("notes") or []:
        out.append(f"{_status(note['status'], color)}: {term(note['message'], MESSAGE)}")
    per_group = [_rows(group, color) for group in report["groups"]]
    lines = _layout(HEADERS, [row for rows in per_group for row in rows])
    header, body = lines[0], lines[1:]
    i = 0
    for group, rows in zip(report["groups"], per_group):
        out.append(f"GROUP {term(group['index'])}  {_status(group['status'], color)}")
        out.append(_indent(Styled("\n".join([header, *body[i:i + len(rows)]]))))
        out.append("")
        i += len(rows)
    s = report["summary"]
    verdict = "FAIL" if s["fail"] else ("WARN" if s["warn"] else "PASS")
    out.append(f"{verdict}: verify runtime {term(report['namespace'], LINE)}/{term(report['lws'], LINE)}: "
               f"{s['groups']} group(s), "
               f"{s['failedGroups']} failing; {s['pass']} passed, {s['warn']} warnings, {s['fail']} failures, "
               f"{s.get('info', 0)} info ({s['execs']} execs, {s['seconds']:.1f}s)")
    echo(Styled("\n".join(out)))
