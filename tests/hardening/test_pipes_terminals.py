"""Items 7 and 9 of issue 16: a closed stdout ends quietly; dumb and latin-1 terminals get what they can show."""

from __future__ import annotations

import os
import time

import pytest

from cliutil import run_on_pty


@pytest.mark.parametrize("args", [
    ["logs", "web", "-o", "json", "--tail", "50"],
    ["logs", "web", "-f"],
    ["logs", "web", "--all-pods", "--tail", "200"],
    ["verify", "env", "web"],
    ["status", "web", "--pods", "-o", "yaml"],
    ["list", "-A", "-o", "json"],
])
def test_closed_stdout_ends_quietly(kc: str, proc, args: list[str]) -> None:  # noqa: ANN001
    started = time.monotonic()
    done = proc(args, kubeconfig=kc, shell_pipe="head -1 >/dev/null", timeout=60)
    assert done.returncode in (0, 141), done.stderr
    assert "error" not in done.stderr.lower() and "Traceback" not in done.stderr, done.stderr
    assert time.monotonic() - started < 30




def test_status_watch_on_a_dumb_terminal_uses_line_mode(kc: str) -> None:
    env = {**os.environ, "TERM": "dumb", "LINES": "20", "COLUMNS": "100", "KUBECONFIG": kc}
    env.pop("NO_COLOR", None)
    code, out = run_on_pty(["status", "web", "-w", "--timeout", "3s"], env=env)
    assert code == 0, out
    assert "\x1b[" not in out, repr(out[:300])  # no alternate screen, no cursor moves, no colour
    assert "GROUP" in out and "web-0" in out


def test_latin1_terminal_degrades_to_ascii(hard, kc: str, proc) -> None:  # noqa: ANN001
    # A value longer than the report's column: the renderer shortens it with "…", which latin-1 lacks
    # (--details: the per-group tables cut cells; the summary view wraps messages instead).
    hard.fault("set-env", pod="hard/enc-0", var="LWS_LEADER_ADDRESS", value="x" * 80)
    done = proc(["verify", "env", "enc", "--details"], kubeconfig=kc, env={"PYTHONIOENCODING": "latin-1"})
    assert "UnicodeEncodeError" not in done.stderr and "unexpected" not in done.stderr, done.stderr
    assert done.returncode == 3, done.stderr
    assert "x" * 20 + "..." in done.stdout
