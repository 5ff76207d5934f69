"""Progress of long work on stderr: a rich bar on a terminal, plain lines elsewhere. One helper for all.

Used by ``report`` (collection, logs), ``restart`` (rolling batches and waits), ``scale`` (waits) and
``verify`` (many groups). On a TTY (stderr, TERM not dumb) a transient rich bar counts the work and
every line (a phase, a group that became Ready) is printed above it; anywhere else the same lines
are printed as they are, and a count only every tenth of the way, so logs and CI output stay short.
rich is imported only when a bar is drawn.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from kubectl_lws.render.safe import term_block


def use_bar(stream: TextIO | Any = None) -> bool:
    """A bar can be drawn: stderr (or ``stream``) is a terminal that can redraw."""
    from kubectl_lws.terminal import can_redraw

    return can_redraw(stream or sys.stderr)


class Progress:
    """``line(text)`` for events, ``start(what, total)`` / ``update(done)`` / ``advance()`` for a count.

    ``prefix`` starts the plain count lines (``report: logs 4/40``); lines given to ``line`` are
    printed as given. ``plain_counts`` False keeps counts off non-terminals (only the bar shows them).
    """

    def __init__(self, prefix: str = "", *, stream: TextIO | None = None, enabled: bool = True,
                 bar: bool | None = None, plain_counts: bool = True) -> None:
        self.prefix = prefix
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.bar = use_bar(self.stream) if bar is None else bar
        self.plain_counts = plain_counts
        self._rich: Any = None
        self._task: Any = None
        self._what = ""
        self._total = 0
        self._done = 0
        self._last_step = -1

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- lines ----------------------------------------------------------------------------------------
    def line(self, text: str) -> None:
        """An event worth a line of its own (above the bar on a terminal)."""
        if not self.enabled:
            return
        text = term_block(text)  # a wait's line can carry a scheduler's message
        if self._rich is not None:
            self._rich.console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)
            return
        self.stream.write(text + "\n")
        self.stream.flush()

    # ---- a count --------------------------------------------------------------------------------------
    def start(self, what: str, total: int) -> None:
        """Begin counting ``total`` units of ``what`` (a new count replaces the previous one)."""
        if not self.enabled or total <= 0:
            return
        self._what, self._total, self._done, self._last_step = what, total, 0, 0
        if self.bar:
            rich = self._ensure_rich()
            if self._task is not None:
                rich.remove_task(self._task)
            self._task = rich.add_task(what, total=total)

    def update(self, done: int) -> None:
        if not self.enabled or self._total <= 0:
            return
        self._done = min(done, self._total)
        if self._rich is not None and self._task is not None:
            self._rich.update(self._task, completed=self._done)
            return
        if not self.plain_counts:
            return
        step = self._done * 10 // self._total
        if step != self._last_step and (step > self._last_step or self._done == self._total):
            self._last_step = step
            self.line(f"{self.prefix}{self._what} {self._done}/{self._total}")

    def advance(self, n: int = 1) -> None:
        self.update(self._done + n)

    def finish(self) -> None:
        """End the current count (the bar goes away)."""
        if self._rich is not None and self._task is not None:
            self._rich.refresh()  # the last count is drawn once, however fast the work went
            self._rich.remove_task(self._task)
        self._task = None
        self._total = 0

    def close(self) -> None:
        self.finish()
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    def _ensure_rich(self) -> Any:
        if self._rich is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

            console = Console(file=self.stream, no_color=bool(os.environ.get("NO_COLOR")), highlight=False,
                              emoji=False, markup=False)
            self._rich = Bar(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=console, transient=True)
            self._rich.start()
        return self._rich
