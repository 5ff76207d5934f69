"""Tables for ``verify env`` and ``verify nccl``: per group, passing checks folded, problems in full.

A group of 8 pods x 3 LWS variables is 24 PASS lines that say nothing; we fold them into one row per
check ("24/24") and print every WARN/FAIL with pod, container, expected and actual, which is what an
operator needs to act on.
"""

from __future__ import annotations

from kubectl_lws.render.output import echo, table
from kubectl_lws.render.safe import LINE, Styled, style, term

_COLORS = {"PASS": "green", "WARN": "yellow", "FAIL": "red"}


def _status(text: str, color: bool) -> Styled:
    return style(text, color, fg=_COLORS.get(text))


def _cut(text: str | None, width: int = 60) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _rows(group: dict, color: bool) -> list[list[str]]:
    rows: list[list[str]] = []
    passed: dict[str, list[dict]] = {}
    order: list[str] = []
    for f in group["findings"]:
        if f["check"] not in order:
            order.append(f["check"])
        if f["status"] == "PASS":
            passed.setdefault(f["check"], []).append(f)
    for check in order:
        items = [f for f in group["findings"] if f["check"] == check]
        bad = [f for f in items if f["status"] != "PASS"]
        good = passed.get(check, [])
        if good:
            if len(good) == 1:
                message = good[0]["message"]
            else:
                message = f"{len(good)}/{len(items)} ok"
            pod = good[0].get("pod", "") if len(good) == 1 else ""
            rows.append([check, _status("PASS", color), pod, good[0].get("container", "") if len(good) == 1 else "",
                         "", "", _cut(message, 90)])
        for f in bad:
            rows.append([check, _status(f["status"], color), _cut(f.get("pod", ""), 40), f.get("container", ""),
                         _cut(f.get("expected")), _cut(f.get("actual")), _cut(f["message"], 120)])
    return rows


def _summary_line(report: dict, what: str) -> str:
    s = report["summary"]
    verdict = "FAIL" if s["fail"] else ("WARN" if s["warn"] else "PASS")
    return (f"{verdict}: {what} {term(report['namespace'], LINE)}/{term(report['lws'], LINE)}: {s['groups']} group(s), "
            f"{s['failedGroups']} failing; {s['pass']} passed, {s['warn']} warnings, {s['fail']} failures, "
            f"{s.get('info', 0)} info ({s['execs']} execs, {s['seconds']:.1f}s)")


def render_env(report: dict, color: bool = False) -> None:
    headers = ["check", "status", "pod", "container", "expected", "actual", "message"]
    for group in report["groups"]:
        echo(Styled(f"GROUP {term(group['index'])}  {_status(group['status'], color)}"))
        echo(_indent(table(headers, _rows(group, color))))
        echo()
    echo(_summary_line(report, "verify env"))


def render_nccl(report: dict, color: bool = False) -> None:
    headers = ["check", "status", "pod", "container", "expected", "actual", "message"]
    for group in report["groups"]:
        parts = [f"GROUP {term(group['index'])}  {_status(group['status'], color)}"]
        for key, label in (("dns", "dns"), ("interface", "interface"), ("reachability", "reachability")):
            if key in group:
                parts.append(f"{label} {term(group[key]['ok'])}/{term(group[key]['total'])}")
        echo(Styled("  ".join(parts)))
        echo(_indent(table(headers, _rows(group, color))))
        matrix = group.get("matrix")
        if matrix:
            names = list(matrix)
            echo(_indent(Styled("mesh (row connects to column):")))
            # pod names as column titles keep their case: the header goes in as a data row
            echo(_indent(table(["from \\ to", *names],
                               [["FROM \\ TO", *names], *[[a, *[matrix[a][b] for b in names]] for a in names]],
                               no_headers=True)))
        echo()
    echo(_summary_line(report, "verify nccl"))


def _indent(text: Styled) -> Styled:
    """Safe text indented by two spaces (still safe)."""
    return Styled("\n".join("  " + line for line in text.splitlines()))
