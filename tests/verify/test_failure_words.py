"""A group whose probe fails is reported in words a user can act on, never as a Python exception name
(issue 16 item 5: a stalled exec stream used to say ``BrokenPipeError: [Errno 32] Broken pipe``)."""

from __future__ import annotations

import pytest

from kubectl_lws.commands.verify import _why
from kubectl_lws.errors import Unreachable


@pytest.mark.parametrize("exc", [BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset"),
                                 EOFError(), TimeoutError("timed out")])
def test_broken_or_stalled_exec_streams_are_sentences(exc):
    text = _why(exc)
    assert type(exc).__name__ not in text and "Errno" not in text
    assert "exec stream" in text and "run the check again" in text


def test_our_errors_keep_their_own_sentence():
    assert _why(Unreachable("cannot reach the API server at https://x: connection refused")) == \
        "cannot reach the API server at https://x: connection refused"
