"""The text map of ``kubectl lws map``: nested boxes of topology domains down to nodes, drawn with rich.

Each node is one line: a mark (NotReady, cordoned, placement violation, tainted), its name, one slot
per accelerator (the letter of the group that requested it, ``#`` another pod, ``.`` free) and, after
``+``, the groups that run pods there without accelerators. Letters carry the meaning, colour only
helps: with ``NO_COLOR``, ``TERM=dumb`` or a pipe the same letters are printed without colour (and
ASCII boxes where the terminal may not draw box characters). Every cluster string passes through
``render.safe.term``. rich is imported here only, so small commands never load it.
"""

from __future__ import annotations

import io
import math
import re
from typing import Sequence

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kubectl_lws.model import placemap as M
from kubectl_lws.render.safe import clip, term

MARK_SYMBOLS = {M.NOT_READY: "!", M.CORDONED: "~", M.VIOLATION: "*", M.TAINTED: "^"}
MARK_WORDS = {M.NOT_READY: "NotReady or gone", M.CORDONED: "cordoned", M.VIOLATION: "placement violation",
              M.TAINTED: "tainted"}
MARK_STYLES = {M.NOT_READY: "bold red", M.CORDONED: "yellow", M.VIOLATION: "bold magenta", M.TAINTED: "cyan"}
FREE, OTHER = M.FREE, M.OTHER
NAME_WIDTH = 16
# Colours for group letters (backgrounds of the 16-colour palette: readable on dark and light terminals).
PALETTE = ("red", "green", "yellow", "blue", "magenta", "cyan", "bright_red", "bright_green", "bright_yellow",
           "bright_blue", "bright_magenta", "bright_cyan")
SUMMARISE_IDLE = 3  # a box with this many idle nodes or more shows them as one line
LIST_LIMIT = 20  # rows of "cannot be placed" and violations shown before "... N more"
WRAP_AT = 8  # a box with more nodes than this shows them in columns


# Spaces at the end of a line, before any colour resets that follow them.
_TRAILING = re.compile(r"[ \t]+((?:\x1b\[[0-9;]*m)*)$")


def group_style(index: int) -> str:
    return f"bold black on {PALETTE[index % len(PALETTE)]}"


class MapPainter:
    """Draws one ClusterMap at one width; ``color`` False gives the same text without styles."""

    def __init__(self, m: M.ClusterMap, *, width: int = 80, color: bool = False, ascii_only: bool = False,
                 all_nodes: bool = False) -> None:
        self.m = m
        self.width = max(40, width)
        self.color = color
        self.box = box.ASCII if ascii_only else box.ROUNDED
        self.all_nodes = all_nodes
        self.labels_of = m.labels_of
        order = sorted({g.label for g in m.groups})
        self.colour_index = {label: i for i, label in enumerate(order)}
        names = [len(term(n.name)) for n in m.nodes] or [4]
        self.name_width = min(NAME_WIDTH, max(names))

    # ---- pieces -------------------------------------------------------------------------------------
    def _style(self, style: str) -> str:
        return style if self.color else ""

    def node_line(self, node: M.MapNode) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        marks = node.marks
        symbol = MARK_SYMBOLS[marks[0]] if marks else " "
        text.append(symbol, self._style(MARK_STYLES[marks[0]]) if marks else "")
        name = term(node.name)
        if len(name) > self.name_width:
            name = "\u2026" + name[-(self.name_width - 1):]
        text.append(name.ljust(self.name_width) + " ",
                    self._style(MARK_STYLES[marks[0]]) if marks and marks[0] != M.TAINTED else "")
        for ch, key in M.node_slots(node, self.labels_of):
            style = self._style(group_style(self.colour_index.get(ch, 0))) if key is not None else \
                self._style("dim") if ch == FREE else ""
            text.append(ch, style)
        if not node.gpus and not node.gpu_groups and not node.gpu_other:
            text.append("-", self._style("dim"))
        extra = M.cpu_only_groups(node, self.labels_of)
        if extra:
            text.append(" +")
            for ch, _ in extra[:8]:
                text.append(ch, self._style(group_style(self.colour_index.get(ch, 0))))
            if len(extra) > 8:
                text.append(f"\u2026{len(extra) - 8}")
        return text

    def _node_block(self, nodes: Sequence[M.MapNode], width: int) -> tuple[RenderableType, int]:
        """The nodes of one box and their width: idle ones summarised, more than ``WRAP_AT`` wrapped into
        columns (filled top to bottom, as ``ls``) within ``width``."""
        shown = list(nodes)
        note = None
        idle = [n for n in nodes if n.idle]
        if not self.all_nodes and len(idle) >= SUMMARISE_IDLE:
            shown = [n for n in nodes if not n.idle]
            note = Text(f"... {len(idle)} more nodes, all idle" if shown else f"{len(idle)} nodes, all idle",
                        style=self._style("dim"))
        lines = [self.node_line(n) for n in shown]
        parts: list[RenderableType] = []
        cell = max([t.cell_len for t in lines] or [0])
        used = cell
        if len(lines) > WRAP_AT:
            fit = max(1, (width + 2) // (cell + 2))
            cols = max(1, min(fit, math.ceil(len(lines) / WRAP_AT)))
            rows = math.ceil(len(lines) / cols)
            grid = Table.grid(padding=(0, 2, 0, 0))
            for _ in range(cols):
                grid.add_column(no_wrap=True, width=cell)
            for r in range(rows):
                grid.add_row(*[lines[c * rows + r] if c * rows + r < len(lines) else "" for c in range(cols)])
            parts.append(grid)
            used = cols * (cell + 2) - 2
        else:
            parts.extend(lines)
        if note is not None:
            parts.append(note)
            used = max(used, note.cell_len)
        return Group(*parts), min(used, width)

    def domain(self, d: M.Domain, width: int) -> tuple[RenderableType, int]:
        """A box as wide as its content (never wider than ``width``), and that width; sub-boxes side by side.
        Widths are computed here, once, rather than measured by rich again at every level of nesting."""
        title = Text(term(d.title, max(10, width - 6)))
        if d.violations:
            title.append(" *", self._style("bold magenta"))
        if d.children:
            inner, used = self.pack([self.domain(c, width - 4) for c in d.children], width - 4)
        else:
            inner, used = self._node_block(d.nodes, width - 4)
        box_width = min(width, max(used + 4, title.cell_len + 6))
        return Panel(inner, box=self.box, title=title, title_align="left", expand=False, padding=(0, 1),
                     width=box_width), box_width

    def pack(self, boxes: list[tuple[RenderableType, int]], width: int) -> tuple[RenderableType, int]:
        """Boxes left to right, a new row when the next one does not fit ``width``; the widest row's width."""
        rows: list[list[tuple[RenderableType, int]]] = [[]]
        used = 0
        for b, w in boxes:
            if rows[-1] and used + 1 + w > width:
                rows.append([])
                used = 0
            rows[-1].append((b, w))
            used += w + (1 if used else 0)
        out: list[RenderableType] = []
        widest = 0
        for row in rows:
            grid = Table.grid(padding=(0, 1, 0, 0))
            for _, w in row:
                grid.add_column(no_wrap=True, width=w)
            grid.add_row(*[b for b, _ in row])
            out.append(grid)
            widest = max(widest, sum(w for _, w in row) + len(row) - 1)
        return Group(*out), min(widest, width)

    def header(self) -> list[Text]:
        lines = [Text(self.m.summary())]
        if self.m.levels:
            src = {"flag": "--topology-key", "kueue": "Kueue Topology", "labels": "node labels"}[self.m.levels_from]
            lines.append(Text(term(f"levels: {' > '.join(M.short_level(k) for k in self.m.levels)} (from {src}; "
                                   "-o json names the keys)")))
        return lines

    def legend(self) -> RenderableType | None:
        """A row per group (or per LWS when the map is of many LWS), fitted to the width: the NODES and then
        the LWS column give way (cut with an ellipsis) so the numbers always show whole."""
        m = self.m
        if not m.groups:
            return None
        if m.by_lws:
            head = ("", "LWS", "GROUPS", "STATE", "PODS", "NODES")
            rows = []
            for row in m.lws:
                mine = [g for g in m.groups if (g.namespace, g.lws) == (row["namespace"], row["name"])]
                rows.append((row["label"], term(f"{row['namespace']}/{row['name']}"), str(len(mine)),
                             term(row["state"]), f"{sum(g.placed for g in mine)}/{sum(g.size for g in mine)}",
                             str(len({n for g in mine for n in g.nodes}))))
        else:
            head = ("", "LWS", "GROUP", "STATE", "PODS", m.resource.rsplit("/", 1)[-1].upper() + "S", "NODES")
            rows = [(g.label, term(f"{g.namespace}/{g.lws}"), f"{g.index}{' (surge)' if g.surge else ''}",
                     term(g.state), f"{g.placed}/{g.size}", str(g.gpus), term(",".join(g.nodes)) or "-")
                    for g in m.groups]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        flexible = [len(head) - 1, 1] if head[-1] == "NODES" and not m.by_lws else [1]
        for i in flexible:  # what is too wide comes off NODES first, then off LWS
            excess = sum(widths) + 2 * (len(widths) - 1) - self.width
            if excess > 0:
                widths[i] = max(len(head[i]) + 2, widths[i] - excess)
        table = Table(box=None, show_header=True, header_style=self._style("bold"), pad_edge=False,
                      padding=(0, 2, 0, 0), collapse_padding=True)
        for h, w in zip(head, widths):
            table.add_column(h, no_wrap=True, width=w)
        for r in rows:
            table.add_row(Text(r[0], self._style(group_style(self.colour_index.get(r[0], 0)))),
                          *(clip(cell, w) for cell, w in zip(r[1:], widths[1:])))
        return table

    def notes(self) -> list[RenderableType]:
        m = self.m
        out: list[RenderableType] = []
        unplaced = m.unplaced
        if unplaced:
            out.append(Text("Cannot be placed:", self._style("bold")))
            grid = Table.grid(padding=(0, 1, 0, 0))  # a long cause wraps under its own text, not the letter
            grid.add_column(no_wrap=True, width=3, justify="right")
            grid.add_column()
            for g in unplaced[:LIST_LIMIT]:
                grid.add_row(Text(g.label, self._style(group_style(self.colour_index.get(g.label, 0)))),
                             Text(term(f"{g.namespace}/{g.lws} group {g.index}: {g.state}"
                                       f"{': ' + g.reason if g.reason else ''}")))
            out.append(grid)
            if len(unplaced) > LIST_LIMIT:
                out.append(Text(f"  ... {len(unplaced) - LIST_LIMIT} more (-o json lists them all)"))
        shown = [v for v in m.violations if "cannot be placed" not in v["message"]]
        if shown:
            out.append(Text("Placement violations:", self._style("bold")))
            for v in shown[:LIST_LIMIT]:
                out.append(Text(term(f"  * {v['namespace']}/{v['lws']}: {v['message']}")))
            if len(shown) > LIST_LIMIT:
                out.append(Text(f"  ... {len(shown) - LIST_LIMIT} more (-o json lists them all)"))
        taints: dict[str, int] = {}
        for n in m.nodes:
            for t in n.taints:
                taints[t] = taints.get(t, 0) + 1
        if taints:
            listed = ", ".join(f"{term(t)} ({c})" for t, c in sorted(taints.items())[:4])
            more = f", +{len(taints) - 4} more" if len(taints) > 4 else ""
            out.append(Text(f"Taints: {listed}{more}"))
        if not m.nodes_known:
            out.append(Text("nodes could not be read: node names come from the pods; levels, capacity and "
                            "readiness are unknown"))
        elif m.others_scope == "namespace":
            out.append(Text("pods of other namespaces could not be read: '#' counts only this namespace's"))
        kind = m.resource.rsplit("/", 1)[-1]
        out.append(Text(clip(f"Slots: A-Z a group's {kind}s, {OTHER} other pods', {FREE} free; "
                             f"+X groups there without {kind}s", self.width), self._style("dim")))
        out.append(Text(clip("Marks: " + "  ".join(f"{MARK_SYMBOLS[k]} {MARK_WORDS[k]}" for k in M.MARKS),
                             self.width), self._style("dim")))
        return out

    def render(self) -> str:
        """The whole map as text (ANSI styles only when ``color``)."""
        buf = io.StringIO()
        console = self.console = Console(
            file=buf, width=self.width, color_system="standard" if self.color else None,
            force_terminal=self.color, no_color=not self.color, markup=False, emoji=False, highlight=False,
            legacy_windows=False, soft_wrap=False, _environ={})
        for line in self.header():
            console.print(line)
        if not self.m.nodes:
            console.print("No nodes.")
        roots = self.m.roots
        if len(roots) == 1 and not roots[0].keys:  # no levels: one box of nodes, wrapped in columns
            console.print(Panel(self._node_block(roots[0].nodes, self.width - 4)[0], box=self.box, title="nodes",
                                title_align="left", expand=True, padding=(0, 1)))
        elif roots:
            console.print(self.pack([self.domain(r, self.width) for r in roots], self.width)[0])
        legend = self.legend()
        if legend is not None:
            console.print(legend)
        for line in self.notes():
            console.print(line)
        return "\n".join(_TRAILING.sub(r"\1", line) for line in buf.getvalue().rstrip("\n").split("\n"))


def render_map(m: M.ClusterMap, *, width: int = 80, color: bool = False, ascii_only: bool = False,
               all_nodes: bool = False) -> str:
    return MapPainter(m, width=width, color=color, ascii_only=ascii_only, all_nodes=all_nodes).render()
