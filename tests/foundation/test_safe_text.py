"""render.safe: cluster text is shown, never obeyed, by a terminal."""
from __future__ import annotations

from kubectl_lws.render.safe import clip, term, term_block


def test_escape_sequences_are_shown_not_obeyed():
    assert term("\x1b]0;pwned\x07ok") == "^[]0;pwned^Gok"
    assert term("a\rb") == "a\\rb"
    assert term("\x1b[2J") == "^[[2J"
    assert term("x\x9b31m") == "x\\x9b31m"
    assert term("del\x7f") == "del^?"


def test_one_line_shows_line_feeds_block_keeps_them():
    assert term("a\nb") == "a\\nb"
    assert term_block("a\nb\r") == "a\nb\\r"
    assert term("tab\there") == "tab\there"


def test_plain_text_and_unicode_pass_unchanged():
    for text in ("basic-0", "gpu-a1 → rack-1", "Pending: 0/7 nodes are available", ""):
        assert term(text) == text
    assert term(None) == ""
    assert term(3) == "3"


def test_long_text_is_clipped_with_an_ellipsis():
    assert term("x" * 100_000, limit=200) == "x" * 199 + "\u2026"
    assert clip("short", 10) == "short"
    assert len(term("\x1b" * 50, limit=20)) == 20
