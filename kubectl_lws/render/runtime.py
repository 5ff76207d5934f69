"""Table for ``verify runtime``: one block per group, passing checks folded, every problem in full with
its template (leader/worker), flag, expected and actual value."""

from __future__ import annotations

import click

from kubectl_lws.render.output import table
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
        for f in items:
            if f["status"] == "PASS":
                continue
            rows.append([check, _status(f["status"], color), f.get("template", ""), _cut(f.get("pod", ""), 40),
                         f.get("flag", ""), _cut(f.get("expected"), 40), _cut(f.get("actual"), 40),
                         _cut(f["message"], 120)])
    return rows


def render_runtime(report: dict, color: bool = False) -> None:
    for note in report.get("notes") or []:
        click.echo(f"{_status(note['status'], color)}: {note['message']}")
    for group in report["groups"]:
        click.echo(f"GROUP {group['index']}  {_status(group['status'], color)}")
        click.echo(_indent(table(HEADERS, _rows(group, color))))
        click.echo("")
    s = report["summary"]
    verdict = "FAIL" if s["fail"] else ("WARN" if s["warn"] else "PASS")
    click.echo(f"{verdict}: verify runtime {report['namespace']}/{report['lws']}: {s['groups']} group(s), "
               f"{s['failedGroups']} failing; {s['pass']} passed, {s['warn']} warnings, {s['fail']} failures, "
               f"{s.get('info', 0)} info ({s['execs']} execs, {s['seconds']:.1f}s)")
