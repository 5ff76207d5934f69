"""The one sanitiser for cluster text on its way to a terminal or a text file.

Names, labels, annotations, images, event messages and logs' metadata come from the cluster, and a
hostile one can hold escape sequences (``ESC ] 0;title BEL`` retitles the window, ``ESC [2J`` clears it,
a bare carriage return hides what came before on the line). Every renderer passes such text through
:func:`term` (one line: a table cell, a header) or :func:`term_block` (several lines: a message, a
log excerpt) before adding its own colours, and adds colour only with :func:`style`. JSON and YAML keep
the data exact and never use these.

Control characters are shown the way kubectl shows them (``^[`` for ESC, ``\\r`` for a carriage
return), so the reader still sees that something was there; so are the Unicode controls that reorder
or hide text (bidi overrides and isolates, as ``\\u202e``).

:class:`Styled` marks text that already went through here (with or without our colour codes):
``render.output.table`` escapes every other cell itself, so a table can never carry raw cluster text.
"""

from __future__ import annotations

import re

ELLIPSIS = "\u2026"

# Bounds for cluster text on one line (JSON/YAML carry it whole): a header value or table cell, and a
# message printed on its own line (an event message, a cause).
LINE = 200
MESSAGE = 1000

# C0 controls (but TAB and LF, decided per mode), DEL, the C1 range (0x9b is CSI on some terminals), and
# the bidi embeddings/overrides/isolates and marks that make a terminal show text in another order, and the
# Unicode line/paragraph separators (splitlines() breaks on them).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_CONTROL_KEEP_LF = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED = {"\x1b": "^[", "\r": "\\r", "\n": "\\n", "\x7f": "^?"}


class Styled(str):
    """Text made safe by this module (maybe with our own colour codes): written as it is.

    Joining it with other text gives a plain ``str`` again, which a table escapes: a renderer that
    concatenates after styling shows ``^[[32m`` instead of colouring, never raw cluster bytes."""

    __slots__ = ()


def _show(match: re.Match) -> str:
    ch = match.group(0)
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code < 0x20:
        return f"^{chr(code + 64)}"
    return f"\\x{code:02x}" if code <= 0xff else f"\\u{code:04x}"


def term(text: object, limit: int | None = None) -> str:
    """``text`` as one safe line: every control character shown, not obeyed; cut at ``limit`` chars."""
    if isinstance(text, Styled):
        return text
    out = "" if text is None else str(text)
    if not out.isprintable():  # the common case (plain text) costs one C-level scan
        out = _CONTROL.sub(_show, out)
    return clip(out, limit)


def term_block(text: object, limit: int | None = None) -> str:
    """Like :func:`term`, but line feeds stay line feeds (a multi-line message printed as such)."""
    if isinstance(text, Styled):
        return text
    out = "" if text is None else str(text)
    if not out.isprintable():
        out = _CONTROL_KEEP_LF.sub(_show, out)
    return clip(out, limit)


def clip(text: str, limit: int | None) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when anything was cut."""
    if limit is None or len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + ELLIPSIS


# SGR codes of the few colours we use (click.style's, without importing click on every path).
_FG = {"red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36, "white": 37}


def style(text: object, color: bool, *, fg: str | None = None, bold: bool = False,
          limit: int | None = None) -> Styled:
    """``text`` made safe (:func:`term`) and, when ``color``, wrapped in our colour: the one way a
    renderer colours anything, so colour is always added after the sanitiser."""
    safe = term(text, limit)
    codes = ([str(_FG[fg])] if fg else []) + (["1"] if bold else [])
    if not color or not codes or not safe:
        return Styled(safe)
    return Styled(f"\x1b[{';'.join(codes)}m{safe}\x1b[0m")


def styled(*parts: object) -> Styled:
    """Parts joined into one Styled text: Styled parts as they are, every other part through :func:`term`."""
    return Styled("".join(term(p) for p in parts))
