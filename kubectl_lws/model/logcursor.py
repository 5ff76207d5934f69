"""Where a followed log stream got to, so that a re-attach continues without repeating a line.

Pure bytes handling over the kubelet's ``timestamps=true`` prefixes; shared by ``logs -f`` and
``record`` (each followed container instance has one cursor, used on its reader thread only).
"""

from __future__ import annotations


def ts_key(stamp: bytes) -> tuple[bytes, int] | None:
    """Order key of a kubelet RFC 3339 (nano) UTC timestamp: (seconds part, nanoseconds); None if not one."""
    if len(stamp) < 20 or stamp[4:5] != b"-" or stamp[10:11] != b"T":
        return None
    base, rest = stamp[:19], stamp[19:]
    nanos = 0
    if rest.startswith(b"."):
        digits = rest[1:].rstrip(b"Z")
        if not digits.isdigit():
            return None
        nanos = int(digits[:9].ljust(9, b"0"))
    elif rest != b"Z":
        return None
    return base, nanos


class StreamCursor:
    """How far the output of one followed container instance got: the kubelet timestamp of the last line
    handed to the writer and how many lines carried exactly that stamp.

    A re-attach asks from that second (``sinceTime``, whole seconds: every server parses it) and the
    cursor drops what was already shown, so a resumed stream continues where it stopped and never
    replays history, whatever ``--tail`` said. Runs on the stream's reader thread only.
    """

    def __init__(self) -> None:
        self.last: bytes | None = None
        self.same = 0
        self._floor: tuple[bytes, int] | None = None
        self._skip = 0

    def resume_since(self) -> str | None:
        """The sinceTime of a re-attach (None: nothing shown yet), arming the duplicate filter."""
        key = ts_key(self.last) if self.last else None
        if key is None:
            return None
        self._floor, self._skip = key, self.same
        return key[0].decode() + "Z"

    def filter(self, block: bytes) -> bytes:
        if self._floor is not None:
            block = self._drop_seen(block)
        if block:
            self._note(block)
        return block

    def _drop_seen(self, block: bytes) -> bytes:
        pos = 0
        while pos < len(block) and self._floor is not None:
            end = block.find(b"\n", pos)
            end = len(block) if end < 0 else end + 1
            key = ts_key(block[pos:end].split(b" ", 1)[0])
            if key is not None and (key < self._floor or (key == self._floor and self._skip > 0)):
                if key == self._floor:
                    self._skip -= 1
                pos = end
                continue
            self._floor = None  # past what was shown: everything from here is new
        return block[pos:]

    def _note(self, block: bytes) -> None:
        """Remember the last line's stamp, looking only at the block's tail (blocks are up to 64 KiB)."""
        body = block[:-1] if block.endswith(b"\n") else block
        start = body.rfind(b"\n") + 1
        space = body.find(b" ", start)
        stamp = body[start:space] if space >= 0 else body[start:]
        prefix = stamp + b" "
        count = 1
        while start > 0:  # earlier lines of this block with the very same stamp
            previous = body.rfind(b"\n", 0, start - 1) + 1
            if not body.startswith(prefix, previous):
                break
            count, start = count + 1, previous
        if stamp == self.last and start == 0:
            self.same += count
        else:
            self.last, self.same = stamp, count
