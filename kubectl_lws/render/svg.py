"""The placement map as one self-contained SVG (``map -o svg``, the report's ``map.svg``, the HTML page).

The same picture as the text map: nested boxes of topology domains, a node per rectangle with one
square per accelerator (coloured and lettered by group, grey for other pods, empty when free),
groups without accelerators there as small letters, marks for NotReady / cordoned / violation /
tainted nodes, a legend, and the groups that cannot be placed with their cause. No script, no
external reference: every cluster string goes through ``html.escape`` (names, labels, reasons);
each node and group also carries a ``<title>`` (the browser's tooltip) and ``data-`` attributes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Callable

from kubectl_lws.model import placemap as M
from kubectl_lws.render.safe import term_block

# A palette of 12 well-separated colours (letters are drawn on them in black or white).
COLOURS = ("#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
           "#bfef45", "#fabed4", "#469990", "#dcbeff")
DARK_TEXT = {"#ffe119", "#bfef45", "#fabed4", "#dcbeff", "#42d4f4", "#3cb44b"}
MARK_COLOURS = {M.NOT_READY: "#d32f2f", M.CORDONED: "#f9a825", M.VIOLATION: "#8e24aa", M.TAINTED: "#00838f"}
MARK_SYMBOLS = {M.NOT_READY: "!", M.CORDONED: "~", M.VIOLATION: "*", M.TAINTED: "^"}

CHAR_W = 7.0  # monospace 12px, per character
SLOT = 12
SLOT_GAP = 2
NODE_H = 22
PAD = 8
TITLE_H = 18
GAP = 8
MAX_ROW_W = 1400
NODES_PER_COLUMN = 8


def e(text: object) -> str:
    """Escaped for an XML text node or attribute value."""
    return escape(term_block(text), quote=True)


def colour_of(label: str, order: dict[str, int]) -> str:
    return COLOURS[order.get(label, 0) % len(COLOURS)]


@dataclass
class Box:
    w: float
    h: float
    draw: Callable[[float, float], list[str]] = field(repr=False)


class SvgMap:
    def __init__(self, m: M.ClusterMap) -> None:
        self.m = m
        self.labels_of = m.labels_of
        self.order = {label: i for i, label in enumerate(sorted({g.label for g in m.groups}))}
        self.groups_by_key = {g.key: g for g in m.groups}
        names = [len(n.name) for n in m.nodes] or [4]
        self.name_chars = min(24, max(names))
        slots = max([min(M.MAX_SLOTS, max(n.gpus, n.gpus_used)) for n in m.nodes] or [0])
        self.node_w = PAD + (self.name_chars + 2) * CHAR_W + slots * (SLOT + SLOT_GAP) + 6 * CHAR_W + PAD

    # ---- one node -----------------------------------------------------------------------------------
    def node(self, n: M.MapNode) -> Box:
        def draw(x: float, y: float) -> list[str]:
            marks = n.marks
            stroke = MARK_COLOURS[marks[0]] if marks else "#9e9e9e"
            tip = [n.name, f"{n.gpus} {self.m.resource} allocatable, {n.gpus_used} requested"]
            for k, pods in n.pod_groups.items():
                g = self.groups_by_key.get(k)
                tip.append(f"{self.labels_of.get(k, '?')}: {k[0]}/{k[1]} group {k[2]}: {pods} pod(s), "
                           f"{n.gpu_groups.get(k, 0)} {self.m.resource}{' (' + g.state + ')' if g else ''}")
            if n.other_pods:
                tip.append(f"other pods: {n.other_pods} ({n.gpu_other} {self.m.resource})")
            tip += [f"{mk}" for mk in marks] + [f"taint {t}" for t in n.taints] + list(n.violations)
            out = [f'<g class="node" data-node="{e(n.name)}" data-marks="{e(" ".join(marks))}">',
                   f"<title>{e(chr(10).join(tip))}</title>",
                   f'<rect x="{x:.1f}" y="{y:.1f}" width="{self.node_w:.1f}" height="{NODE_H}" rx="3" '
                   f'fill="#fff" stroke="{stroke}" stroke-width="{2 if marks else 1}"/>']
            tx = x + PAD
            if marks:
                out.append(f'<text x="{tx:.1f}" y="{y + 15:.1f}" class="mark" fill="{stroke}">'
                           f'{e(MARK_SYMBOLS[marks[0]])}</text>')
            name = n.name if len(n.name) <= self.name_chars else "\u2026" + n.name[-(self.name_chars - 1):]
            out.append(f'<text x="{tx + CHAR_W * 1.5:.1f}" y="{y + 15:.1f}" class="name">{e(name)}</text>')
            sx = tx + (self.name_chars + 2) * CHAR_W
            for ch, key in M.node_slots(n, self.labels_of):
                if key is not None:
                    fill = colour_of(ch, self.order)
                    ink = "#000" if fill in DARK_TEXT else "#fff"
                    out.append(f'<g class="slot" data-group="{e("/".join(map(str, key)))}">'
                               f'<rect x="{sx:.1f}" y="{y + 5:.1f}" width="{SLOT}" height="{SLOT}" fill="{fill}"/>'
                               f'<text x="{sx + SLOT / 2:.1f}" y="{y + 15:.1f}" class="slotl" fill="{ink}">{e(ch)}'
                               '</text></g>')
                elif ch == M.OTHER:
                    out.append(f'<rect class="slot other" x="{sx:.1f}" y="{y + 5:.1f}" width="{SLOT}" '
                               f'height="{SLOT}" fill="#757575"/>')
                else:
                    out.append(f'<rect class="slot free" x="{sx:.1f}" y="{y + 5:.1f}" width="{SLOT}" '
                               f'height="{SLOT}" fill="#fff" stroke="#bdbdbd"/>')
                sx += SLOT + SLOT_GAP
            extra = [lab for lab, _ in M.cpu_only_groups(n, self.labels_of)]
            if extra:
                text = "+" + "".join(extra[:6]) + ("\u2026" if len(extra) > 6 else "")
                out.append(f'<text x="{sx + 2:.1f}" y="{y + 15:.1f}" class="extra">{e(text)}</text>')
            out.append("</g>")
            return out

        return Box(self.node_w, NODE_H, draw)

    # ---- boxes --------------------------------------------------------------------------------------
    def leaf(self, title: str, nodes: list[M.MapNode], violations: list[str]) -> Box:
        cells = [self.node(n) for n in nodes]
        cols = 1 if len(cells) <= NODES_PER_COLUMN else min(6, math.ceil(len(cells) / NODES_PER_COLUMN))
        rows = math.ceil(len(cells) / cols) if cells else 0
        w = max(PAD * 2 + cols * self.node_w + (cols - 1) * GAP, len(title) * CHAR_W + 3 * PAD)
        h = TITLE_H + PAD + rows * (NODE_H + 4) + PAD
        return Box(w, h, lambda x, y: self._frame(x, y, w, h, title, violations, [
            piece for i, c in enumerate(cells)
            for piece in c.draw(x + PAD + (i // rows) * (self.node_w + GAP),
                                y + TITLE_H + PAD + (i % rows) * (NODE_H + 4))
        ]))

    def domain(self, d: M.Domain) -> Box:
        if not d.children:
            return self.leaf(d.title or "nodes", d.nodes, d.violations)
        kids = [self.domain(c) for c in d.children]
        placed, inner_w, inner_h = _flow(kids, MAX_ROW_W)
        w = max(inner_w + 2 * PAD, len(d.title) * CHAR_W + 3 * PAD)
        h = TITLE_H + PAD + inner_h + PAD
        return Box(w, h, lambda x, y: self._frame(x, y, w, h, d.title, d.violations, [
            piece for (dx, dy, k) in placed for piece in k.draw(x + PAD + dx, y + TITLE_H + PAD + dy)]))

    def _frame(self, x: float, y: float, w: float, h: float, title: str, violations: list[str],
               body: list[str]) -> list[str]:
        stroke = MARK_COLOURS[M.VIOLATION] if violations else "#607d8b"
        tip = f"<title>{e(chr(10).join([title, *violations]))}</title>" if violations else ""
        mark = " *" if violations else ""
        return [f'<g class="domain" data-domain="{e(title)}">{tip}',
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" fill="none" '
                f'stroke="{stroke}" stroke-width="{2 if violations else 1}"/>',
                f'<text x="{x + PAD:.1f}" y="{y + 14:.1f}" class="title">{e(title + mark)}</text>',
                *body, "</g>"]

    # ---- the whole picture --------------------------------------------------------------------------
    def svg(self, title: str = "") -> str:
        m = self.m
        roots = [self.domain(r) for r in m.roots] if m.nodes else []
        placed, map_w, map_h = _flow(roots, MAX_ROW_W)
        lines = self.legend_lines()
        width = max(map_w + 2 * PAD, 640, max((len(t) for t, *_ in lines), default=0) * CHAR_W + 40)
        head = _summary(m)
        y0 = PAD + 36
        legend_y = y0 + map_h + 2 * PAD
        height = legend_y + len(lines) * 18 + PAD
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
               f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{e("LWS placement map " + title)}">',
               "<style>text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;fill:#212121}"
               ".title{font-weight:bold}.slotl{text-anchor:middle;font-size:10px;font-weight:bold}"
               ".mark{font-weight:bold}.head{font-size:13px}.extra{fill:#424242}</style>",
               f'<rect width="{width:.0f}" height="{height:.0f}" fill="#fafafa"/>',
               f'<text x="{PAD}" y="{PAD + 12}" class="head title">'
               f'{e("kubectl lws map" + (": " + title if title else ""))}</text>',
               f'<text x="{PAD}" y="{PAD + 28}" class="head">{e(head)}</text>']
        for dx, dy, b in placed:
            out += b.draw(PAD + dx, y0 + dy)
        y = legend_y
        for text, label, key in lines:
            if label:
                fill = colour_of(label, self.order)
                ink = "#000" if fill in DARK_TEXT else "#fff"
                out.append(f'<g class="legend" data-group="{e(key)}"><rect x="{PAD}" y="{y:.1f}" width="{SLOT}" '
                           f'height="{SLOT}" fill="{fill}"/><text x="{PAD + SLOT / 2:.1f}" y="{y + 10:.1f}" '
                           f'class="slotl" fill="{ink}">{e(label)}</text>'
                           f'<text x="{PAD + SLOT + 8}" y="{y + 10:.1f}">{e(text)}</text></g>')
            else:
                out.append(f'<text x="{PAD}" y="{y + 10:.1f}">{e(text)}</text>')
            y += 18
        out.append("</svg>")
        return "\n".join(out) + "\n"

    def legend_lines(self) -> list[tuple[str, str, str]]:
        """(text, label, data-group) rows under the map: groups (or LWS), unplaced, violations, key."""
        m = self.m
        rows: list[tuple[str, str, str]] = []
        if m.by_lws:
            for r in m.lws:
                n = sum(1 for g in m.groups if (g.namespace, g.lws) == (r["namespace"], r["name"]))
                rows.append((f"{r['namespace']}/{r['name']}: {n} groups, {r['state']}", r["label"],
                             f"{r['namespace']}/{r['name']}"))
        else:
            for g in m.groups:
                rows.append((f"{g.namespace}/{g.lws} group {g.index}: {g.state}, {g.placed}/{g.size} pods, "
                             f"{g.gpus} {m.resource}{', on ' + ', '.join(g.nodes) if g.nodes else ''}",
                             g.label, f"{g.namespace}/{g.lws}/{g.index}"))
        if m.unplaced:
            rows.append(("Cannot be placed:", "", ""))
            for g in m.unplaced:
                rows.append((f"{g.label} {g.namespace}/{g.lws} group {g.index}: {g.state}"
                             f"{': ' + g.reason if g.reason else ''}", "", ""))
        viol = [v for v in m.violations if "cannot be placed" not in v["message"]]
        if viol:
            rows.append(("Placement violations:", "", ""))
            rows += [(f"* {v['namespace']}/{v['lws']}: {v['message']}", "", "") for v in viol]
        rows.append(("Marks: ! NotReady or gone, ~ cordoned, * placement violation, ^ tainted; "
                     "grey square: other pods, white: free", "", ""))
        return rows


def _flow(boxes: list[Box], max_w: float) -> tuple[list[tuple[float, float, Box]], float, float]:
    """Left to right, wrapping at ``max_w``: positions, total width and height."""
    placed = []
    x = y = row_h = 0.0
    width = 0.0
    for b in boxes:
        if x > 0 and x + b.w > max_w:
            x, y = 0.0, y + row_h + GAP
            row_h = 0.0
        placed.append((x, y, b))
        x += b.w + GAP
        row_h = max(row_h, b.h)
        width = max(width, x - GAP)
    return placed, width, (y + row_h) if boxes else 0.0


def _summary(m: M.ClusterMap) -> str:
    levels = " > ".join(M.short_level(k) for k in m.levels) or "none"
    return f"{m.summary()}; levels: {levels}"


def map_svg(m: M.ClusterMap, *, title: str = "") -> str:
    """The SVG document (with its XML declaration, for a .svg file)."""
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + SvgMap(m).svg(title)


def map_svg_inline(m: M.ClusterMap, *, title: str = "") -> str:
    """The ``<svg>`` element alone, to put inside an HTML page."""
    return SvgMap(m).svg(title)
