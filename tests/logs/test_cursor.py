"""The follow cursor (issue 16 item 8): a re-attached stream continues after the last line shown."""
from kubectl_lws.commands.logs import StreamCursor


def test_resume_drops_exactly_what_was_shown_even_with_equal_stamps():
    c = StreamCursor()
    assert c.resume_since() is None  # nothing shown: the caller re-asks its first query
    c.filter(b"2026-01-01T00:00:01.5Z a\n2026-01-01T00:00:02.1Z b\n2026-01-01T00:00:02.1Z c\n")
    c.filter(b"2026-01-01T00:00:02.1Z d\n")
    assert (c.last, c.same) == (b"2026-01-01T00:00:02.1Z", 3)
    assert c.resume_since() == "2026-01-01T00:00:02Z"  # whole seconds: any server parses it
    replay = (b"2026-01-01T00:00:01.9Z a\n2026-01-01T00:00:02.1Z b\n2026-01-01T00:00:02.1Z c\n"
              b"2026-01-01T00:00:02.1Z d\n2026-01-01T00:00:02.1Z e\n2026-01-01T00:00:03Z f\n")
    assert c.filter(replay) == b"2026-01-01T00:00:02.1Z e\n2026-01-01T00:00:03Z f\n"
    assert c.filter(b"2026-01-01T00:00:03Z g\n") == b"2026-01-01T00:00:03Z g\n"  # filter disarmed


def test_replay_split_over_blocks_and_lines_without_stamps():
    c = StreamCursor()
    c.filter(b"2026-01-01T00:00:05.000000001Z x\n")
    c.resume_since()
    assert c.filter(b"2026-01-01T00:00:05Z old\n") == b""
    assert c.filter(b"2026-01-01T00:00:05.000000001Z x\n") == b""
    assert c.filter(b"no stamp here\n") == b"no stamp here\n"  # cannot be placed: shown, never lost
