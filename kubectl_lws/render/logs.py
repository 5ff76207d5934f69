"""Log line formatting for ``kubectl lws logs``: prefixes, JSON lines, markers, one whole-line writer.

Everything works on *blocks of whole lines* (bytes ending in ``\\n``), never on single lines: a
stream thread cuts what it read at the last newline, formats the whole block in a few C-level
bytes operations, and hands it to the single writer. That keeps the per-line Python cost near
zero at thousands of lines/s, and since only whole lines ever reach the writer, two pods' halves
can never end up on one output line.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, BinaryIO, TextIO

from kubectl_lws.render.safe import Styled, term, term_block

RESET = "\x1b[0m"
_TS = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) ")


class LineSplitter:
    """Cuts a byte stream into whole lines and keeps the unfinished tail for the next chunk."""

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, chunk: bytes) -> bytes:
        """The complete lines now available (``b""`` or bytes ending in ``\\n``)."""
        if self._rest:
            chunk = self._rest + chunk
        cut = chunk.rfind(b"\n")
        if cut < 0:
            self._rest = chunk
            return b""
        self._rest = chunk[cut + 1:]
        return chunk[:cut + 1]

    def flush(self) -> bytes:
        """The last line when the stream ended without a newline (completed with one)."""
        rest, self._rest = self._rest, b""
        return rest + b"\n" if rest else b""


def prefix_bytes(prefix: str, color: str | None, *, width: int = 0, enabled: bool = True) -> bytes:
    """``g1/w0 `` padded to ``width`` so columns line up, coloured when ``color`` is an SGR code.

    The prefix may carry cluster words (a container name, a group label that is not a number): made safe
    here. The log lines themselves are printed as the container wrote them, as ``kubectl logs`` does."""
    if not enabled:
        return b""
    prefix = term(prefix)
    pad = " " * max(width - len(prefix), 0)
    text = f"\x1b[{color}m{prefix}{RESET}" if color else prefix
    return f"{text}{pad} ".encode()


def text_block(prefix: bytes, lines: bytes) -> bytes:
    """Prefix every line of a block of whole lines."""
    if not prefix or not lines:
        return lines
    return prefix + lines[:-1].replace(b"\n", b"\n" + prefix) + b"\n"


def split_timestamp(raw: bytes) -> tuple[str | None, bytes]:
    """``(rfc3339, rest)`` when the kubelet put a ``timestamps=true`` prefix on the line."""
    match = _TS.match(raw)
    if not match:
        return None, raw
    return raw[:match.end() - 1].decode(), raw[match.end():]


def json_block(fields: dict[str, Any], lines: bytes, *, timestamps: bool) -> bytes:
    """One compact JSON object per line: ``{"time","group","worker","pod","container","line"}``."""
    out: list[str] = []
    for raw in lines.split(b"\n")[:-1]:
        ts: str | None = None
        if timestamps:
            ts, raw = split_timestamp(raw)
        out.append(json.dumps({"time": ts, **fields, "line": raw.decode("utf-8", "replace")},
                              separators=(",", ":"), ensure_ascii=False))
    return ("\n".join(out) + "\n").encode() if out else b""


def _label(label: str, color: str | None) -> str:
    return f"\x1b[{color}m{term(label)}{RESET}" if color else term(label)


def marker_added(label: str, pod: str, detail: str | None, *, color: str | None = None) -> Styled:
    """``+ g1/w0 (pod basic-1, new)`` on stderr when a stream is attached."""
    inner = f"pod {term(pod)}, {term(detail)}" if detail else f"pod {term(pod)}"
    return Styled(f"+ {_label(label, color)} ({inner})")


def marker_removed(label: str, detail: str = "pod deleted", *, color: str | None = None) -> Styled:
    """``- g1/w0 (pod deleted)`` on stderr when the followed pod goes away."""
    return Styled(f"- {_label(label, color)} ({term(detail)})")


class BlockWriter:
    """The one place that writes while streams run; each call writes whole lines and flushes."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out_text = out or sys.stdout
        self._err_text = err or sys.stderr
        self._out = _binary(self._out_text)
        self._err = _binary(self._err_text)

    def out(self, data: bytes) -> None:
        if data:
            self._write(self._out_text, self._out, data)

    def err(self, message: str) -> None:
        """A note or marker on stderr: cluster words in it are shown, never obeyed (``render.safe``)."""
        self._write(self._err_text, self._err, (term_block(message) + "\n").encode())

    @staticmethod
    def _write(text: TextIO, binary: BinaryIO | None, data: bytes) -> None:
        if binary is not None:
            binary.write(data)
            binary.flush()
        else:
            text.write(data.decode("utf-8", "replace"))
            text.flush()


def _binary(stream: TextIO) -> BinaryIO | None:
    """The byte layer under a text stream (after flushing what was written as text)."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        return None
    try:
        stream.flush()
    except (OSError, ValueError):
        pass
    return buffer
