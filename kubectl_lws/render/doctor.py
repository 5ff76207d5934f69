"""Text for ``kubectl lws doctor``: checks grouped by area, the fix under every WARN/FAIL, the permission matrix."""

from __future__ import annotations

import click

from kubectl_lws.render.output import table

_COLORS = {"PASS": "green", "WARN": "yellow", "FAIL": "red", "INFO": "cyan"}


def _st(text: str, color: bool) -> str:
    return click.style(f"{text:<4}", fg=_COLORS.get(text)) if color else f"{text:<4}"


def render_doctor(doc: dict, color: bool = False) -> str:
    lines: list[str] = []
    area = None
    width = max((len(c["check"]) for c in doc["checks"]), default=10)
    for c in doc["checks"]:
        if c["area"] != area:
            if area is not None:
                lines.append("")
            area = c["area"]
            title = area
            if area == "Controller" and doc.get("controllerNamespace"):
                title += f" (namespace {doc['controllerNamespace']})"
            if area == "Permissions":
                title += f" (namespace {doc.get('namespace')})"
            lines.append(title)
        lines.append(f"  {_st(c['status'], color)}  {c['check']:<{width}}  {c['message']}")
        if c.get("fix") and c["status"] in ("WARN", "FAIL"):
            lines.append(f"  {'':4}  {'':<{width}}  fix: {c['fix']}")
    if doc.get("permissions"):
        lines.append("")
        rows = [[r["command"], r["works"], ", ".join(r["missing"] + [f"{d} (degraded)" for d in r["degraded"]])]
                for r in doc["permissions"]]
        lines.append("Commands you can use here")
        lines.extend("  " + line for line in table(["command", "works", "missing"], rows).splitlines())
    s = doc["summary"]
    verdict = "FAIL" if s["fail"] else ("WARN" if s["warn"] else "PASS")
    lines.append("")
    lines.append(f"{_st(verdict, color).strip()}: {s['pass']} passed, {s['warn']} warnings, {s['fail']} failed")
    return "\n".join(lines)
