"""What the terminal can take: its encoding, whether it can move the cursor, whether stdout is still read.

Kept apart from the commands so that every command gets the same answers: the CLI entry point
degrades the streams once, and ``status -w`` asks ``can_redraw`` before it uses the alternate screen.
"""

from __future__ import annotations

import codecs
import os
import sys
from typing import Any, TextIO

ERRORS = "kubectl-lws-ascii"

# What we print outside ASCII, in the ASCII a latin-1 or C-locale terminal can show.
_ASCII = {
    "\u2026": "...", "\u2014": "-", "\u2013": "-", "\u2192": "->", "\u2190": "<-", "\u2500": "-",
    "\u2502": "|", "\u251c": "|-", "\u2514": "`-", "\u2713": "ok", "\u2717": "x", "\u00d7": "x",
    "\u2022": "*", "\u00b7": ".", "\u2265": ">=", "\u2264": "<=", "\u00b5": "u", "\u00a7": "S",
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2191": "^", "\u2193": "v",
}


def _ascii_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: each character the encoding cannot carry becomes its ASCII look-alike."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    import unicodedata  # only when a character cannot be printed

    out = []
    for ch in exc.object[exc.start:exc.end]:
        text = _ASCII.get(ch)
        if text is None:
            text = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii") or "?"
        out.append(text)
    return "".join(out), exc.end


codecs.register_error(ERRORS, _ascii_fallback)


def degrade_streams() -> None:
    """Let stdout/stderr fall back to ASCII look-alikes instead of raising UnicodeEncodeError.

    A latin-1 terminal (``PYTHONIOENCODING=latin-1``, a C locale) cannot carry ``…`` or ``—``;
    kubectl prints what it can, so do we. UTF-8 streams are left alone.
    """
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("_", "-")
        if not encoding or encoding in ("utf-8", "utf8") or getattr(stream, "errors", None) == ERRORS:
            continue
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        try:
            reconfigure(errors=ERRORS)
        except (ValueError, OSError):  # a closed or detached stream: nothing to protect
            pass


def silence_stdout() -> None:
    """stdout's reader is gone: point the descriptor at /dev/null so the exit flush cannot fail.

    (Python's documented recipe for SIGPIPE-free pipelines; ``| head -1`` then ends with exit 0.)
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # not a real descriptor (tests' captured stdout)
        pass


def can_redraw(stream: TextIO | Any = None) -> bool:
    """A terminal that can redraw in place: a TTY whose TERM is set and not ``dumb``."""
    stream = stream or sys.stdout
    if os.environ.get("TERM", "") in ("dumb", ""):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


class LiveScreen:
    """The screen of every live view (status -w, metrics -w) on a terminal that can redraw: the alternate
    screen with the cursor hidden while it lasts, each frame drawn whole from the top, restored on exit."""

    def __init__(self, stream: TextIO | Any = None) -> None:
        self.stream = stream or sys.stdout

    def __enter__(self) -> "LiveScreen":
        self.stream.write("\x1b[?1049h\x1b[?25l")  # alternate screen, hide cursor
        self.stream.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.write("\x1b[?25h\x1b[?1049l")
        self.stream.flush()

    def draw(self, frame: str) -> None:
        self.stream.write("\x1b[H\x1b[2J" + frame + "\n")
        self.stream.flush()

    @staticmethod
    def size() -> Any:
        import shutil

        return shutil.get_terminal_size((120, 40))


def boxes_drawable(stream: TextIO | Any = None) -> bool:
    """Box-drawing characters will show: TERM is not ``dumb`` and the stream carries UTF-8."""
    stream = stream or sys.stdout
    if os.environ.get("TERM", "") == "dumb":
        return False
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("_", "-")
    return encoding in ("utf-8", "utf8")
