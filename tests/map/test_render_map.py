"""The text map (render/map.py), the SVG and the HTML pages, from hand-made maps: widths, letters without
colour, idle nodes summarised, hostile cluster text shown and never obeyed."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from maputil import lws, node, pod

from kubectl_lws.model import placemap as M
from kubectl_lws.render.html import map_page
from kubectl_lws.render.map import render_map
from kubectl_lws.render.svg import map_svg

ANSI = re.compile(r"\x1b\[[0-9;]*m")
HOSTILE = '<img src=x onerror=alert(1)>"><script>alert(2)</script>'


def fleet(busy: int, *, levels: bool = True) -> M.ClusterMap:
    """64 nodes of 8 GPUs (2 zones x 8 racks of 4 when ``levels``); ``busy`` groups of 8 one-GPU pods."""
    nodes = [node(f"gpu-node-{i:02d}", zone=f"z{i // 32}", rack=f"rack-{i // 4:02d}") for i in range(64)]
    pods = [pod("big", g, w, f"gpu-node-{(g * 8 + w) // 8 * 2:02d}", 1) for g in range(busy) for w in range(8)]
    keys = ["zone", "rack"] if levels else []
    return M.build_map([lws("big", busy, 8)], pods, nodes, levels=keys, levels_from="flag")


def widths(text: str) -> list[int]:
    return [len(ANSI.sub("", line)) for line in text.splitlines()]


def test_64_nodes_of_8_gpus_fit_80_columns_and_idle_nodes_are_summarised() -> None:
    m = fleet(6)
    text = render_map(m, width=80)
    assert max(widths(text)) <= 80
    assert "\x1b" not in text  # no colour asked: letters only
    assert text.count("4 nodes, all idle") == 13  # 16 racks of 4 nodes, 3 of them busy
    assert "64 nodes, 512 nvidia.com/gpu: 48 for LWS groups, 0 other pods, 464 free" in text
    assert "gpu-node-00 AAAAAAAA" in text and "gpu-node-10 FFFFFFFF" in text
    for g in range(6):
        assert re.search(rf"^{chr(65 + g)}\s+ns/big\s+{g}\s+Ready\s+8/8\s+8\s", text, re.M)
    every = render_map(m, width=80, all_nodes=True)
    assert all(f"gpu-node-{i:02d}" in every for i in range(64)) and max(widths(every)) <= 80


def test_without_levels_64_busy_nodes_wrap_into_columns() -> None:
    nodes = [node(f"n{i:02d}") for i in range(64)]
    pods = [pod("big", i, 0, f"n{i:02d}", 8) for i in range(64)]
    m = M.build_map([lws("big", 64, 1)], pods, nodes)
    text = render_map(m, width=80)
    assert max(widths(text)) <= 80
    assert all(f"n{i:02d}" in text for i in range(64))
    assert sum(1 for line in text.splitlines() if line.count(" n") >= 2) >= 10  # several nodes a line
    wide = render_map(m, width=200)
    assert max(widths(wide)) <= 200 and len(wide.splitlines()) < len(text.splitlines())


def test_colour_and_ascii_boxes_are_options_the_letters_stay() -> None:
    m = fleet(2)
    coloured = render_map(m, width=100, color=True)
    assert "\x1b[" in coloured and ANSI.sub("", coloured) == render_map(m, width=100)
    ascii_only = render_map(m, width=100, ascii_only=True)
    assert all(ord(ch) < 128 for ch in ascii_only) and "+-" in ascii_only


def test_hostile_cluster_text_is_shown_not_obeyed() -> None:
    nodes = [node("n1", rack="r\x1b]0;owned\x07"), node("n2", rack="r\x1b]0;owned\x07")]
    p = pod("a", 0, 0, None)
    p["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                  "message": f"0/2 nodes are available: \x1b[2J{HOSTILE}"}]
    m = M.build_map([lws("a", 1, 1)], [p], nodes, levels=["rack"], levels_from="flag")
    text = render_map(m, width=120)
    assert "\x1b" not in text and "\x07" not in text
    assert "r^[]0;owned^G" in text and "^[[2J" in text

    svg = map_svg(m, title=HOSTILE)
    ET.fromstring(svg.split("\n", 1)[1])  # well-formed: nothing hostile closed or opened an element
    assert "<img" not in svg and "<script" not in svg and "&lt;img src=x onerror=alert(1)&gt;" in svg
    page = map_page(m, title=HOSTILE)
    assert "<img" not in page and "<script" not in page and "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "script-src" not in page and "default-src &#x27;none&#x27;" in page  # no script may run at all
