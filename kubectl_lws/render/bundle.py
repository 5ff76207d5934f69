"""The report bundle's front pages: ``index.html`` (a browser) and ``summary.md`` (a ticket).

Both say the same: the LWS and its state, one row per group, what cannot be placed and why, the
files of the bundle (linked), and what could not be collected. The HTML also holds the placement
map and the events timeline. Cluster text is escaped in the HTML (``render.html.e``) and made one
safe line in the Markdown (``render.safe.term``, pipes escaped by the table writer).
"""

from __future__ import annotations

from typing import Any, Sequence

from kubectl_lws.render import html as H
from kubectl_lws.render.safe import term

# The files an operator opens first, in this order, with what they hold.
FILES = (("status.txt", "status of every group and pod"), ("events.txt", "events timeline by group"),
         ("map.svg", "placement map"), ("verify-env.txt", "injected env checks"),
         ("rollout-history.txt", "revisions"), ("manifest.json", "what was collected, what was not"))


def md(text: object, limit: int | None = None) -> str:
    """One safe line for Markdown: controls shown, not obeyed; a pipe cannot end a table cell."""
    return term(text, limit).replace("|", "\\|")


def _title(lws: dict) -> str:
    meta = lws.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def index_html(lws: dict, a: Any, m: Any, timeline: Sequence[Any], files: Sequence[str],
               not_collected: Sequence[dict]) -> str:
    """The bundle's ``index.html``: self-contained, no script (its CSP forbids any)."""
    from kubectl_lws.model.timeutil import utc_now

    parts = []
    if a is not None:
        parts.append(f'<section id="lws"><h2>State: {H.state(a.state)}</h2><p>{H.e(a.reason)}</p>'
                     + H.groups_table(a) + "</section>")
    present = {*files, "manifest.json"}  # the manifest is written last, always
    links = "".join(f'<li><a href="{H.e(name)}">{H.e(name)}</a>: {H.e(what)}</li>'
                    for name, what in FILES if name in present)
    logs = sorted(f for f in files if f.startswith("logs/"))
    if logs:
        links += "<li>logs: " + ", ".join(f'<a href="{H.e(f)}">{H.e(f[5:])}</a>' for f in logs[:50]) + \
                 (f" and {len(logs) - 50} more" if len(logs) > 50 else "") + "</li>"
    parts.append(f'<section id="files"><h2>Files</h2><ul>{links}</ul></section>')
    if not_collected:
        items = "".join(f"<li>{H.e(n.get('item'))}: {H.e(n.get('reason'))}</li>" for n in not_collected)
        parts.append(f'<section id="not-collected"><h2>Not collected</h2><ul>{items}</ul></section>')
    if m is not None:
        parts.append(H.map_sections(m, title=_title(lws)))
    parts.append('<section id="events"><h2>Events</h2>' + H.events_table(timeline, utc_now(), 500) + "</section>")
    subtitle = f"{a.state}: {a.reason}" if a is not None else ""
    return H.page(f"kubectl lws report: {_title(lws)}", "\n".join(parts), subtitle=subtitle)


def summary_markdown(lws: dict, a: Any, m: Any, files: Sequence[str], not_collected: Sequence[dict]) -> str:
    """The bundle's ``summary.md`` (GitHub-flavoured tables by tabulate)."""
    from tabulate import tabulate

    lines = [f"# LeaderWorkerSet {md(_title(lws))}", ""]
    if a is not None:
        lines += [f"**State:** {md(a.state)}: {md(a.reason)}", "",
                  f"{a.ready}/{a.desired} groups ready, size {a.view.size}.", "", "## Groups", ""]
        rows = [[g.index, f"{g.ready}/{g.size}", md(g.leader or "-"),
                 md(", ".join(sorted({p.node for p in g.pods if p.node})) or "-"), g.restarts, md(g.state),
                 md(g.reason, 200)] for g in a.groups]
        lines += [tabulate(rows, headers=["group", "ready", "leader", "nodes", "restarts", "state", "reason"],
                           tablefmt="github"), ""]
    if m is not None and m.unplaced:
        lines += ["## Cannot be placed", ""]
        lines += [f"- group {g.index}: {md(g.state)}: {md(g.reason, 300)}" for g in m.unplaced]
        lines.append("")
    if not_collected:
        lines += ["## Not collected", "",
                  tabulate([[md(n.get("item")), md(n.get("reason"), 300)] for n in not_collected],
                           headers=["item", "reason"], tablefmt="github"), ""]
    present = {*files, "manifest.json"}
    lines += ["## Files", ""] + [f"- `{name}`: {what}" for name, what in FILES if name in present]
    lines += ["- `index.html`: this summary with the placement map and the events, for a browser", ""]
    return "\n".join(lines)
