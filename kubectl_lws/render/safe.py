"""The one sanitiser for cluster text on its way to a terminal or a text file.

Names, labels, annotations, images, event messages and logs' metadata come from the cluster, and a
hostile one can hold escape sequences (``ESC ] 0;title BEL`` retitles the window, ``ESC [2J`` clears it,
a bare carriage return hides what came before on the line). Every renderer passes such text through
:func:`term` (one line: a table cell, a header) or :func:`term_block` (several lines: a message, a
log excerpt) before adding its own colours. JSON and YAML keep the data exact and never use these.

Control characters are shown the way kubectl shows them (``^[`` for ESC, ``\\r`` for a carriage
return), so the reader still sees that something was there.
"""

from __future__ import annotations

import re

ELLIPSIS = "\u2026"

# C0 controls (but TAB and LF, decided per mode), DEL, and the C1 range (0x9b is CSI on some terminals).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROL_KEEP_LF = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NAMED = {"\x1b": "^[", "\r": "\\r", "\n": "\\n", "\x7f": "^?"}


def _show(match: re.Match) -> str:
    ch = match.group(0)
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"^{chr(code + 64)}" if code < 0x20 else f"\\x{code:02x}"


def term(text: object, limit: int | None = None) -> str:
    """``text`` as one safe line: every control character shown, not obeyed; cut at ``limit`` chars."""
    out = _CONTROL.sub(_show, "" if text is None else str(text))
    return clip(out, limit)


def term_block(text: object, limit: int | None = None) -> str:
    """Like :func:`term`, but line feeds stay line feeds (a multi-line message printed as such)."""
    out = _CONTROL_KEEP_LF.sub(_show, "" if text is None else str(text))
    return clip(out, limit)


def clip(text: str, limit: int | None) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when anything was cut."""
    if limit is None or len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + ELLIPSIS
