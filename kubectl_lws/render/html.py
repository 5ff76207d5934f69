"""HTML for ``map -o html``, the report's ``index.html`` and the dashboard: one page, no external asset.

Every string that comes from the cluster (names, labels, reasons, event messages, images) is put in
the page through ``html.escape`` — here and nowhere else — so a label value such as
``<img src=x onerror=alert(1)>`` shows as text. The exports carry a Content-Security-Policy that
allows no script at all; the dashboard's page allows only its own script (by nonce).
"""

from __future__ import annotations

from html import escape
from typing import Any, Iterable, Sequence

from kubectl_lws.model import placemap as M
from kubectl_lws.render.safe import term_block
from kubectl_lws.render.svg import colour_of, map_svg_inline

STYLE = """
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#fafafa;color:#212121}
header{background:#263238;color:#fff;padding:10px 16px}
header h1{font-size:18px;margin:0}
header p{margin:4px 0 0;font-size:13px;color:#cfd8dc}
main{padding:12px 16px}
section{margin-bottom:20px}
h2{font-size:15px;margin:12px 0 6px}
table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{border:1px solid #e0e0e0;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eceff1}
td.num{text-align:right}
.swatch{display:inline-block;min-width:14px;text-align:center;font-weight:bold;font-family:monospace;
padding:0 2px;border-radius:2px}
.state-Ready,.state-Healthy{color:#2e7d32}
.state-Degraded,.state-Unavailable,.state-Missing,.state-NodeNotReady,.state-Stuck,.state-Stalled{color:#c62828;font-weight:bold}
.state-Pending,.state-Recreating,.state-Progressing,.state-Updating,.state-Scaling{color:#ef6c00}
.state-Canary{color:#00838f}.state-Paused{color:#6a1b9a}
.map{overflow-x:auto}
.muted{color:#757575}
a{color:#1565c0}
nav{font-size:13px;margin-bottom:8px}
.banner{background:#fff3e0;border:1px solid #ffb74d;padding:6px 10px;font-size:13px}
pre{white-space:pre-wrap}
"""

EXPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def e(text: object) -> str:
    """Escaped for HTML text or a quoted attribute (the one way cluster text reaches a page); control
    characters are shown as ``render.safe`` shows them (XML cannot even carry most of them)."""
    return escape(term_block(text), quote=True)


def state(text: object) -> str:
    """A state word with its colour class (the class name is escaped like any text)."""
    word = "" if text is None else str(text)
    return f'<span class="state-{e(word)}">{e(word)}</span>'


def swatch(label: str, order: dict[str, int]) -> str:
    from kubectl_lws.render.svg import DARK_TEXT

    fill = colour_of(label, order)
    ink = "#000" if fill in DARK_TEXT else "#fff"
    return f'<span class="swatch" style="background:{fill};color:{ink}">{e(label)}</span>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, attrs: str = "") -> str:
    """A table from cells that are already HTML (escape cluster text with ``e`` before)."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str, *, csp: str = EXPORT_CSP, script: str = "", nonce: str = "",
         subtitle: str = "") -> str:
    """A whole HTML document: inline style, optional inline script (with ``nonce``), the CSP as meta."""
    script_tag = f'<script nonce="{e(nonce)}">{script}</script>' if script else ""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">'
            f'<meta name="referrer" content="no-referrer">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title><style>{STYLE}</style></head>\n"
            f'<body><header><h1>{e(title)}</h1><p id="subtitle">{e(subtitle)}</p></header>\n'
            f"<main id=\"main\">{body}</main>{script_tag}</body></html>\n")


# ---- the map ----------------------------------------------------------------------------------------

def map_sections(m: M.ClusterMap, *, title: str = "") -> str:
    """Map, legend and group table, what cannot be placed, violations, nodes (as HTML sections)."""
    order = {label: i for i, label in enumerate(sorted({g.label for g in m.groups}))}
    out = [f'<section id="map"><h2>Placement</h2><div class="map">{map_svg_inline(m, title=title)}</div></section>']
    if m.by_lws:
        out.append('<section id="legend"><p class="muted">More groups than letters: a letter per LeaderWorkerSet.'
                   "</p></section>")
    rows = [[swatch(g.label, order), e(g.namespace), e(g.lws), f'<span data-group="{e(g.namespace)}/{e(g.lws)}/'
             f'{g.index}">{g.index}{" (surge)" if g.surge else ""}</span>', state(g.state), e(g.reason),
             f"{g.placed}/{g.size}", str(g.gpus), e(", ".join(g.nodes)) or "-"] for g in m.groups]
    out.append('<section id="groups"><h2>Groups</h2>' +
               (table(["", "namespace", "LWS", "group", "state", "reason", "pods placed",
                       m.resource, "nodes"], rows, attrs=' id="group-table"') if rows else
                '<p class="muted">No LeaderWorkerSet groups.</p>') + "</section>")
    if m.unplaced:
        items = "".join(f'<li data-group="{e(g.namespace)}/{e(g.lws)}/{g.index}">{swatch(g.label, order)} '
                        f"{e(g.namespace)}/{e(g.lws)} group {g.index}: {state(g.state)}"
                        f"{': ' + e(g.reason) if g.reason else ''}</li>" for g in m.unplaced)
        out.append(f'<section id="unplaced"><h2>Cannot be placed</h2><ul>{items}</ul></section>')
    viol = [v for v in m.violations if "cannot be placed" not in v["message"]]
    if viol:
        items = "".join(f"<li>{e(v['namespace'])}/{e(v['lws'])}: {e(v['message'])}</li>" for v in viol)
        out.append(f'<section id="violations"><h2>Placement violations</h2><ul>{items}</ul></section>')
    node_rows = []
    labels_of = m.labels_of
    for n in m.nodes:
        where = " / ".join(f"{e(M.short_level(k))} {e(v)}" for k, v in zip(m.levels, n.domains) if v is not None)
        groups = " ".join(swatch(labels_of.get(k, "?"), order) for k in n.pod_groups)
        node_rows.append([f'<span data-node="{e(n.name)}">{e(n.name)}</span>', where or "-",
                          f"{n.gpus}", f"{sum(n.gpu_groups.values())}", f"{n.gpu_other}",
                          f"{max(0, n.gpus - n.gpus_used)}", groups or "-", e(", ".join(n.marks)) or "-",
                          e(", ".join(n.taints)) or "-"])
    out.append('<section id="nodes"><h2>Nodes</h2>' +
               table(["node", "where", "allocatable", "LWS", "other", "free", "groups", "marks", "taints"],
                     node_rows, attrs=' id="node-table"') + "</section>")
    return "\n".join(out)


def map_subtitle(m: M.ClusterMap) -> str:
    return m.summary()


def map_page(m: M.ClusterMap, *, title: str = "") -> str:
    """``map -o html``: the self-contained page."""
    return page(f"kubectl lws map: {title}" if title else "kubectl lws map", map_sections(m, title=title),
                subtitle=map_subtitle(m))


# ---- status, list, events (the report's index.html and the dashboard) --------------------------------

def lws_table(assessments: Sequence[Any], *, link: Any = None) -> str:
    """One row per LWS (``list``'s columns); ``link(a)`` gives the href of its page, or None."""
    rows = []
    for a in assessments:
        v = a.view
        name = e(v.name)
        href = link(a) if link else None
        if href:
            name = f'<a href="{e(href)}">{name}</a>'
        rows.append([e(v.namespace), f'<span data-lws="{e(v.namespace)}/{e(v.name)}">{name}</span>',
                     f"{a.ready}/{a.desired}", str(v.size), state(a.state), e(a.reason)])
    if not rows:
        return '<p class="muted">No LeaderWorkerSets.</p>'
    return table(["namespace", "name", "groups ready", "size", "state", "reason"], rows, attrs=' id="lws-table"')


def ds_table(sets: Sequence[Any], *, link: Any = None) -> str:
    """One row per DisaggregatedSet (``list``'s columns: roles ready/desired, slices, rollout, state);
    ``sets`` are ``model.ds.DsAssessment``; ``link(da)`` gives the href of its page, or None."""
    rows = []
    for da in sets:
        v = da.view
        name = e(f"ds/{v.name}")
        href = link(da) if link else None
        if href:
            name = f'<a href="{e(href)}">{name}</a>'
        roles = ", ".join(f"{e(r.name)} {r.ready}/{'?' if r.desired is None else r.desired}" for r in da.roles)
        rollout = "stalled" if da.stall is not None else "rolling" if da.rolling else "-"
        rows.append([e(v.namespace), f'<span data-ds="{e(v.namespace)}/{e(v.name)}">{name}</span>', roles,
                     str(v.slices), rollout, e(da.target_revision or "-"), state(da.state), e(da.reason)])
    if not rows:
        return '<p class="muted">No DisaggregatedSets.</p>'
    return table(["namespace", "name", "roles (ready/desired)", "slices", "rollout", "revision", "state", "reason"],
                 rows, attrs=' id="ds-table"')


def groups_table(a: Any, place: Any = None) -> str:
    """One LWS's groups (``status``'s columns: readiness, revision, leader, nodes, state, cause)."""
    from kubectl_lws.model.health import short_hash

    from kubectl_lws.render.output import human_age

    rows = []
    for g in a.groups:
        nodes = sorted({p.node for p in g.pods if p.node})
        rows.append([f'<span data-group="{e(a.view.namespace)}/{e(a.view.name)}/{g.index}" '
                     f'data-leader-uid="{e(g.leader_uid or "")}">{g.index}{" (surge)" if g.surge else ""}</span>',
                     f"{g.ready}/{g.size}", e(f"{short_hash(g.revision)} {g.revision_role}"), e(g.leader or "-"),
                     e(", ".join(nodes)) or "-", str(g.restarts), e(human_age(g.age_seconds)),
                     state(g.state), e(g.reason)])
    return table(["group", "ready", "revision", "leader", "nodes", "restarts", "age", "state", "reason"], rows,
                 attrs=' id="group-status"')


def events_table(events: Sequence[Any], now: Any, limit: int = 200) -> str:
    """The events timeline (``kubectl lws events``'s rows, newest last, at most ``limit``): ``model.events``
    LwsEvents, or ``model.ds`` DsEvents (their group column says role/slice/group)."""
    from kubectl_lws.render.output import human_age

    shown = list(events)[-limit:]
    if not shown:
        return '<p class="muted">No events.</p>'
    rows = []
    for le in shown:
        ev = le.event
        when = ev.last or ev.first
        age = human_age((now - when).total_seconds()) if when is not None else "-"
        scope = getattr(le, "scope", None)  # a DisaggregatedSet's events: role/slice/group
        group = scope if scope is not None else "-" if le.group is None else str(le.group)
        rows.append([e(age), e(ev.type), e(ev.reason), group, e(ev.object),
                     e(ev.message) + (f' <span class="muted">(x{ev.count})</span>' if (ev.count or 1) > 1 else "")])
    return table(["age", "type", "reason", "group", "object", "message"], rows, attrs=' id="events-table"')
