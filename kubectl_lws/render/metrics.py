"""Text for ``kubectl lws metrics``: the plain table (snapshots, pipes, NO_COLOR) and the live ``rich`` table.

Everything that came from the cluster or a pod's page (pod names, scrape reasons, outlier texts, role and
slice names) goes through ``render.safe.term`` before it is drawn; rich markup in it is escaped too.
"""

from __future__ import annotations

from typing import Sequence

from kubectl_lws.model.metrics import GroupMetrics, fmt_rate, role_totals, totals
from kubectl_lws.render.output import table
from kubectl_lws.render.safe import term

UP, DOWN = "\u2191", "\u2193"
ENGINE_NAMES = {"vllm": "vLLM", "sglang": "SGLang", "mixed": "vLLM and SGLang"}
DASH = "-"


def _pct(v: float | None) -> str:
    return DASH if v is None else f"{v * 100:.0f}%"


def _count(v: float | None) -> str:
    return DASH if v is None else f"{v:,.0f}"


def _rate(v: float | None) -> str:
    return DASH if v is None else fmt_rate(v)


def _secs(v: float | None) -> str:
    if v is None:
        return DASH
    if v < 1:
        return f"{v * 1000:.0f}ms"
    return f"{v:.1f}s" if v < 100 else f"{v:.0f}s"


def _q(g: GroupMetrics, which: str, q: float) -> float | None:
    h = getattr(g, which)
    return h.quantile(q) if h is not None else None


def _trend(now: float | None, before: float | None, *, rel: float = 0.05) -> str:
    """An arrow when the number moved by more than ``rel`` of itself since the previous window."""
    if now is None or before is None:
        return ""
    if abs(now - before) <= rel * max(abs(now), abs(before), 1e-9):
        return ""
    return UP if now > before else DOWN


def _key(g: GroupMetrics) -> tuple:
    return (g.role, g.slice, g.revision, g.index)


def _layout(groups: Sequence[GroupMetrics]) -> tuple[bool, bool]:
    """(ds, revisions): ROLE and SLICE columns for a DisaggregatedSet, and REVISION where some role and slice
    runs two revisions (a rollout: both serve)."""
    ds = any(g.role for g in groups)
    seen: dict[tuple, set] = {}
    for g in groups:
        seen.setdefault((g.role, g.slice), set()).add(g.revision)
    return ds, ds and any(len(revs) > 1 for revs in seen.values())


def _finished(g: GroupMetrics) -> str:
    if not g.finished:
        return DASH
    return " ".join(f"{k} {v:,.0f}" for k, v in sorted(g.finished.items()))


def columns(ds: bool, wide: bool, revisions: bool = False) -> list[str]:
    cols = ["GROUP", "RUNNING", "WAITING", "KV", "PROMPT TOK/S", "GEN TOK/S", "TTFT P50"]
    cols += (["TTFT P95"] if wide else []) + ["TTFT P99", "ITL P50"] + (["ITL P95"] if wide else [])
    cols += ["ITL P99", "PREEMPT"] + (["FINISHED", "PODS"] if wide else []) + ["SCRAPE"]
    return (["ROLE", "SLICE"] if ds else []) + (["REVISION"] if revisions else []) + cols


def row(g: GroupMetrics, *, ds: bool, wide: bool, label: str | None = None,
        before: GroupMetrics | None = None, revisions: bool = False) -> list[str]:
    """One row; ``before`` (the same group one window earlier, in -w) adds trend arrows."""
    def arrow(now: float | None, old: float | None) -> str:
        return _trend(now, old) if before is not None else ""

    b = before
    ttft99 = _q(g, "ttft", 0.99)
    cells = {
        "ROLE": term(g.role or DASH), "SLICE": term(g.slice or DASH), "REVISION": term(g.revision or DASH),
        "GROUP": label if label is not None else str(g.index),
        "RUNNING": _count(g.running),
        "WAITING": _count(g.waiting) + arrow(g.waiting, b and b.waiting),
        "KV": _pct(g.kv) + arrow(g.kv, b and b.kv),
        "PROMPT TOK/S": _rate(g.prompt_rate),
        "GEN TOK/S": _rate(g.generation_rate) + arrow(g.generation_rate, b and b.generation_rate),
        "TTFT P50": _secs(_q(g, "ttft", 0.5)), "TTFT P95": _secs(_q(g, "ttft", 0.95)),
        "TTFT P99": _secs(ttft99) + arrow(ttft99, _q(b, "ttft", 0.99) if b else None),
        "ITL P50": _secs(_q(g, "itl", 0.5)), "ITL P95": _secs(_q(g, "itl", 0.95)),
        "ITL P99": _secs(_q(g, "itl", 0.99)),
        "PREEMPT": _count(g.preemptions), "FINISHED": _finished(g),
        "PODS": term(",".join(g.pods)) if g.pods else DASH,
        "SCRAPE": term(g.scrape, 160),
    }
    return [cells[c] for c in columns(ds, wide, revisions)]


def outlier_lines(groups: Sequence[GroupMetrics]) -> list[str]:
    lines = []
    for g in groups:
        if g.outlier:
            who = f"{term(g.role)} " if g.role else ""
            where = f" slice {term(g.slice)}" if g.slice else ""
            rev = f" (revision {term(g.revision)})" if g.revision else ""
            lines.append(f"  {who}group {g.index}{where}{rev}: {term(g.outlier, 300)}")
    return ["Outliers:"] + lines if lines else []


def header_lines(kind: str, name: str, namespace: str, groups: Sequence[GroupMetrics], interval: float) -> list[str]:
    from kubectl_lws.model.metrics import engine_of

    engine = engine_of(groups)
    answered = sum(1 for g in groups if g.answered)
    what = ENGINE_NAMES.get(engine or "", "no engine recognised")
    return [f"{kind}: {term(name)} ({term(namespace)})",
            f"Engine:   {what}; {answered}/{len(groups)} groups answered; window {interval:.1f}s"]


def render_metrics(kind: str, name: str, namespace: str, groups: Sequence[GroupMetrics], interval: float, *,
                   wide: bool = False, previous: Sequence[GroupMetrics] | None = None) -> str:
    """The plain text (one snapshot): header, the group table with role subtotals and totals, outliers."""
    ds, revs = _layout(groups)
    before = {_key(g): g for g in previous or ()}
    rows = [row(g, ds=ds, wide=wide, before=before.get(_key(g)), revisions=revs) for g in groups]
    roles = role_totals(groups)
    if len(roles) > 1:
        rows += [row(r, ds=ds, wide=wide, label="total", revisions=revs) for r in roles]
    rows.append(row(totals(groups), ds=ds, wide=wide, label="TOTAL", revisions=revs))
    if ds:
        blank = 3 if revs else 2
        rows[-1][0:blank] = [""] * blank
    lines = header_lines(kind, name, namespace, groups, interval) + ["", table(columns(ds, wide, revs), rows)]
    out = outlier_lines(groups)
    if out:
        lines += [""] + out
    return "\n".join(lines)


def render_live(kind: str, name: str, namespace: str, groups: Sequence[GroupMetrics], interval: float, *,
                width: int, height: int, previous: Sequence[GroupMetrics] | None = None, stamp: str = "") -> str:
    """The -w frame on a colour terminal: a ``rich`` table (outliers in red, trends as arrows), as ANSI text
    for ``terminal.LiveScreen`` to draw; trimmed to the screen, groups that stand out kept first."""
    import io

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    ds, revs = _layout(groups)
    before = {_key(g): g for g in previous or ()}
    room = max(1, height - 9 - min(6, sum(1 for g in groups if g.outlier)))
    shown = list(groups)
    hidden = 0
    if len(shown) > room:
        keep = {_key(g) for g in shown if g.outlier}
        for g in shown:
            if len(keep) >= room:
                break
            keep.add(_key(g))
        hidden = len(shown) - len(keep)
        shown = [g for g in shown if _key(g) in keep]
    tab = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for h in columns(ds, False, revs):
        tab.add_column(h, justify="left" if h in ("ROLE", "SLICE", "REVISION", "SCRAPE") else "right", no_wrap=True,
                       overflow="ellipsis")
    for g in shown:
        style = "red" if g.outlier else None
        tab.add_row(*[escape(c) for c in row(g, ds=ds, wide=False, before=before.get(_key(g)), revisions=revs)],
                    style=style)
    for r in role_totals(groups) if len({(g.role, g.slice) for g in groups}) > 1 else []:
        tab.add_row(*[escape(c) for c in row(r, ds=ds, wide=False, label="total", revisions=revs)], style="dim")
    tab.add_row(*[escape(c) for c in row(totals(groups), ds=ds, wide=False, label="TOTAL", revisions=revs)],
                style="bold")
    console = Console(file=io.StringIO(), force_terminal=True, color_system="standard", width=width,
                      highlight=False, emoji=False)
    console.print(escape(stamp), style="dim")
    for line in header_lines(kind, name, namespace, groups, interval):
        console.print(escape(line))
    console.print(tab)
    if hidden:
        console.print(f"... {hidden} more groups", style="dim")
    out = outlier_lines(groups)
    for i, line in enumerate(out[:7]):
        console.print(escape(line), style="bold red" if i == 0 else "red")
    text = console.file.getvalue().rstrip("\n")  # type: ignore[attr-defined]
    lines = text.splitlines()
    return "\n".join(lines[:height])

