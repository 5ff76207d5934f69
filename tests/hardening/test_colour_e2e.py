"""Issue 25 class 8: one colour decision for every command: ``--color always|never`` beats ``NO_COLOR``,
which beats the terminal (auto: colour only a TTY). Piped and on a pseudo-terminal, stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cliutil import run_on_pty

# Commands that colour something on a healthy sandbox (stdout or stderr).
COMMANDS = [["status", "web"], ["status", "web", "--pods"], ["list"], ["verify", "env", "web"], ["doctor"],
            ["restart", "web", "-g", "0", "--dry-run"], ["logs", "web", "--tail", "1"],
            ["rollout", "pause", "web", "--dry-run"]]
SGR = "\x1b["


def _piped(args: list[str], kc: str, no_color: bool) -> str:
    env = {**os.environ, "KUBECONFIG": kc}
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    done = subprocess.run([sys.executable, "-m", "kubectl_lws", *args], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def _tty(args: list[str], kc: str, no_color: bool) -> str:
    env = {**os.environ, "KUBECONFIG": kc, "TERM": "xterm", "LINES": "40", "COLUMNS": "200"}
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    code, out = run_on_pty(args, env=env)
    assert code == 0, out
    return out


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_flag_beats_no_color_beats_the_terminal(kc, args: list[str]) -> None:  # noqa: ANN001
    # --color always wins over NO_COLOR, piped and on a terminal
    assert SGR in _piped([*args, "--color", "always"], kc, no_color=True)
    assert SGR in _tty([*args, "--color", "always"], kc, no_color=True)
    # --color never wins over a terminal
    assert SGR not in _tty([*args, "--color", "never"], kc, no_color=False)
    # NO_COLOR beats the terminal; auto colours a terminal only
    assert SGR not in _tty(args, kc, no_color=True)
    assert SGR in _tty(args, kc, no_color=False)
    assert SGR not in _piped(args, kc, no_color=False)
