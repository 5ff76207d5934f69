"""Text for ``verify env|nccl|runtime``: a summary by default, every group with ``--details`` (or ``-g``).

The summary reads at a glance at any size: one row per check (how many groups pass, warn, fail,
and which fail), then the problems of the failing groups only, one finding per block (what, where,
expected and actual, the message), within 120 columns. On 512 groups that is a dozen lines plus
what is broken, not thousands of PASS rows.

``--details`` keeps the per-group tables: a group of 8 pods x 3 LWS variables is 24 PASS lines that
say nothing, so they are folded into one row per check ("24/24") and every WARN/FAIL is printed with
pod, container, expected and actual. Cluster text passes through ``render.safe.term`` in both.
"""

from __future__ import annotations

import re
import textwrap
from typing import Callable

from kubectl_lws.render.output import echo, table
from kubectl_lws.render.safe import LINE, Styled, clip, style, term

_COLORS = {"PASS": "green", "WARN": "yellow", "FAIL": "red"}


def _status(text: str, color: bool) -> Styled:
    return style(text, color, fg=_COLORS.get(text))


def group_title(group: dict) -> str:
    """``GROUP 2``, or for a DisaggregatedSet's child ``GROUP decode/s0/g2 (pd-0-b890c4a6-decode)``."""
    if "role" not in group:
        return f"GROUP {group['index']}"
    from kubectl_lws.render.safe import term

    return f"GROUP {term(group['role'])}/s{group['slice']}/g{group['index']} ({term(group['lws'])})"


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
    """The last line of every verify view: ``NS/NAME`` for an LWS, ``ds/NAME in NS`` for a DisaggregatedSet."""
    s = report["summary"]
    verdict = "FAIL" if s["fail"] else ("WARN" if s["warn"] else "PASS")
    name, ns = term(report["lws"], LINE), term(report["namespace"], LINE)
    subject = f"{name} in {ns}" if report.get("disaggregatedSet") else f"{ns}/{name}"
    return (f"{verdict}: {what} {subject}: {s['groups']} group(s), "
            f"{s['failedGroups']} failing; {s['pass']} passed, {s['warn']} warnings, {s['fail']} failures, "
            f"{s.get('info', 0)} info ({s['execs']} execs, {s['seconds']:.1f}s)")


# ---- the summary view -------------------------------------------------------------------------------

WIDTH = 120  # the summary view never prints a longer line
DETAILED_GROUPS = 20  # failing groups shown in full before "... N more"
_RANK = {"PASS": 0, "INFO": 1, "WARN": 2, "FAIL": 3}


def check_rows(report: dict) -> list[dict]:
    """Per check, in first-seen order: groups by their worst status for it, failing/warning groups,
    the first WARN message and the first INFO one (what a check that could not run says)."""
    rows: dict[str, dict] = {}
    for group in report["groups"]:
        worst: dict[str, str] = {}
        for f in group["findings"]:
            row = rows.setdefault(f["check"], {"check": f["check"], "PASS": 0, "WARN": 0, "FAIL": 0, "INFO": 0,
                                               "failing": [], "warning": [], "note": "", "warn_note": ""})
            if _RANK.get(f["status"], 0) >= _RANK.get(worst.get(f["check"], "PASS"), 0):
                worst[f["check"]] = f["status"]
            if f["status"] == "INFO" and not row["note"]:
                row["note"] = f["message"]
            if f["status"] == "WARN" and not row["warn_note"]:
                row["warn_note"] = f["message"]
        for check, status in worst.items():
            row = rows[check]
            row[status] = row.get(status, 0) + 1
            if status == "FAIL":
                row["failing"].append(group_key(group))
            elif status == "WARN":
                row["warning"].append(group_key(group))
    return list(rows.values())


def _finding_block(f: dict, color: bool) -> list[str]:
    """One problem: status, check and where on a line; the message wrapped; expected/actual if they add."""
    where = [term(f[k]) for k in ("pod", "container", "template", "variable", "flag") if f.get(k)]
    head = f"  {_status(f['status'], color)}  {term(f['check'])}"
    if where:
        head += "  " + "  ".join(where)
    out = [clip(head, WIDTH + (len(head) - len(_plain(head))))]
    message = term(f.get("message", ""))
    out += textwrap.wrap(message, WIDTH, initial_indent="        ", subsequent_indent="        ") or []
    expected, actual = f.get("expected"), f.get("actual")
    said = [str(v) for v in (expected, actual) if v not in (None, "") and str(v) not in message]
    if said:
        pair = "        " + "; ".join(p for p in (f"expected {term(expected)}" if expected not in (None, "") else "",
                                                   f"actual {term(actual)}" if actual not in (None, "") else "") if p)
        out.append(clip(pair, WIDTH))
    return out


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def group_key(group: dict) -> int | str:
    """How the summary names a group: its index, or ``role/sN/gI`` for a DisaggregatedSet's child."""
    if "role" not in group:
        return group["index"]
    return f"{term(group['role'])}/s{group['slice']}/g{group['index']}"


def summary_view(report: dict, what: str, color: bool = False,
                 group_note: Callable[[dict], list[str]] | None = None, before_verdict: list[str] = ()) -> Styled:
    """The default text of ``verify``: a row per check, then the failing groups' problems, the verdict
    (``before_verdict``: lines of the whole subject, such as the P/D wiring of a DisaggregatedSet)."""
    lines: list[str] = []
    for note in report.get("notes") or []:
        lines.append(clip(f"{_status(note['status'], color)}: {term(note['message'])}", WIDTH))
    rows = check_rows(report)
    with_info = any(r["INFO"] for r in rows)
    headers = ["check", "pass", "warn", "fail", *(["info"] if with_info else []), "failing groups / note"]
    # check column, then PASS WARN FAIL (INFO) at most 4 wide each, three spaces between columns
    fixed = max([len("check")] + [len(term(r["check"])) for r in rows]) + 3 + (4 + with_info) * (4 + 3)
    room = max(20, WIDTH - fixed)

    def last(r: dict) -> str:
        if r["failing"]:
            return clip(_spans(r["failing"]), room)
        if r["warning"]:
            return clip(f"warn {_spans(r['warning'])}: {term(r['warn_note'])}", room)
        return clip(term(r["note"]), room) if r["note"] else "-"

    body = [[term(r["check"]), _count(r["PASS"], "green", color), _count(r["WARN"], "yellow", color),
             _count(r["FAIL"], "red", color),
             *([str(r["INFO"])] if with_info else []), last(r)] for r in rows]
    if rows:
        lines += table(headers, body).splitlines()
    failing = [g for g in report["groups"] if g["status"] == "FAIL"]
    for group in failing[:DETAILED_GROUPS]:
        lines.append("")
        extra = group_note(group) if group_note else []
        lines.append("  ".join([f"{group_title(group)}  {_status('FAIL', color)}", *extra]))
        for f in group["findings"]:
            if f["status"] in ("FAIL", "WARN"):
                lines += _finding_block(f, color)
    if len(failing) > DETAILED_GROUPS:
        lines.append("")
        lines.append(f"... {len(failing) - DETAILED_GROUPS} more failing groups: see one with -g N, all with "
                     "--details or -o json")
    warned = [group_key(g) for g in report["groups"] if g["status"] == "WARN"]
    if warned:
        lines.append("")
        lines.append(clip(f"warnings only in group(s) {_spans(warned)}: --details (or -g N) shows them", WIDTH))
    lines.append("")
    lines += before_verdict
    lines.append(_summary_line(report, what))
    return Styled("\n".join(lines))


def _count(n: int, colour: str, color: bool) -> str:
    """A count of groups, in its status's colour when there are any."""
    return style(str(n), color and bool(n), fg=colour, bold=colour == "red")


def _spans(groups: list[int | str]) -> str:
    """``0-3,7`` for indexes; the names of a DisaggregatedSet's groups as they are."""
    from kubectl_lws.model.rollout import spans

    if all(isinstance(g, int) for g in groups):
        return spans(groups).replace(", ", ",")
    return ",".join(str(g) for g in groups)


def render_env(report: dict, color: bool = False, details: bool = True) -> None:
    if not details:
        echo(summary_view(report, "verify env", color))
        return
    headers = ["check", "status", "pod", "container", "expected", "actual", "message"]
    for group in report["groups"]:
        echo(Styled(f"{group_title(group)}  {_status(group['status'], color)}"))
        echo(_indent(table(headers, _rows(group, color))))
        echo()
    echo(_summary_line(report, "verify env"))


def _nccl_counts(group: dict) -> list[str]:
    return [f"{key} {term(group[key]['ok'])}/{term(group[key]['total'])}" for key in ("dns", "interface", "reachability")
            if key in group]


def render_nccl(report: dict, color: bool = False, details: bool = True) -> None:
    if not details:
        echo(summary_view(report, "verify nccl", color, group_note=_nccl_counts))
        return
    headers = ["check", "status", "pod", "container", "expected", "actual", "message"]
    for group in report["groups"]:
        echo(Styled("  ".join([f"{group_title(group)}  {_status(group['status'], color)}", *_nccl_counts(group)])))
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
