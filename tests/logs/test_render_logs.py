"""Whole-line splitting and block formatting."""
from __future__ import annotations

import json
import random

from kubectl_lws.render import logs as render


def test_splitter_only_yields_whole_lines():
    data = b"".join(f"line {i} ".encode() * (i % 7 + 1) + b"\n" for i in range(500))
    rng = random.Random(7)
    splitter, out, pos = render.LineSplitter(), [], 0
    while pos < len(data):
        step = rng.randint(1, 40)
        block = splitter.feed(data[pos:pos + step])
        pos += step
        assert block == b"" or block.endswith(b"\n")
        out.append(block)
    assert splitter.flush() == b""
    assert b"".join(out) == data


def test_splitter_completes_last_line():
    s = render.LineSplitter()
    assert s.feed(b"a\nb") == b"a\n"
    assert s.flush() == b"b\n"


def test_text_block_prefixes_every_line_and_colours():
    prefix = render.prefix_bytes("g1/w0", None, width=7)
    assert render.text_block(prefix, b"x\ny\n") == b"g1/w0   x\ng1/w0   y\n"
    coloured = render.prefix_bytes("g1/w0", "92")
    assert coloured == b"\x1b[92mg1/w0\x1b[0m "
    assert render.text_block(render.prefix_bytes("g1/w0", None, enabled=False), b"x\n") == b"x\n"


def test_json_block_splits_kubelet_timestamp():
    block = b"2026-11-22T10:26:07.781000000Z INFO step 3\nno stamp here\n"
    lines = render.json_block({"group": 0, "worker": 0, "pod": "basic-0", "container": "leader"}, block,
                              timestamps=True).decode().splitlines()
    first, second = (json.loads(x) for x in lines)
    assert list(first) == ["time", "group", "worker", "pod", "container", "line"]
    assert first["time"] == "2026-11-22T10:26:07.781000000Z" and first["line"] == "INFO step 3"
    assert second["time"] is None and second["line"] == "no stamp here"


def test_markers():
    assert render.marker_added("g1/w0", "basic-1", "new") == "+ g1/w0 (pod basic-1, new)"
    assert render.marker_added("g1/w0", "basic-1", None) == "+ g1/w0 (pod basic-1)"
    assert render.marker_removed("g1/w0") == "- g1/w0 (pod deleted)"
