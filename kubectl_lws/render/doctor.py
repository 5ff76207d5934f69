"""Text for ``kubectl lws doctor``: checks grouped by area, the fix under every WARN/FAIL, the permission matrix."""

from __future__ import annotations

from kubectl_lws.render.output import table
from kubectl_lws.render.safe import LINE, MESSAGE, Styled, style, term

_COLORS = {"PASS": "green", "WARN": "yellow", "FAIL": "red", "INFO": "cyan"}


def _st(text: str, color: bool) -> Styled:
    return style(f"{text:<4}", color, fg=_COLORS.get(text))


def render_doctor(doc: dict, color: bool = False) -> Styled:
    """The report as text; messages and fixes (names, the server's words) pass through render.safe."""
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
                title += f" (namespace {term(doc['controllerNamespace'], LINE)})"
            if area == "Permissions":
                title += f" (namespace {term(doc.get('namespace'), LINE)})"
            lines.append(term(title))
        lines.append(f"  {_st(c['status'], color)}  {term(c['check']):<{width}}  {term(c['message'], MESSAGE)}")
        if c.get("fix") and c["status"] in ("WARN", "FAIL"):
            lines.append(f"  {'':4}  {'':<{width}}  fix: {term(c['fix'], MESSAGE)}")
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
    return Styled("\n".join(lines))
