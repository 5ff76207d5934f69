"""Run the real CLI in-process (click's runner) and read its exit code, stdout and stderr."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from click.testing import CliRunner

from kubectl_lws.cli import cli


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(args: Sequence[str], *, env: dict[str, str] | None = None, input: str | None = None,
            kubeconfig: str | None = None) -> CliResult:
    """Invoke ``kubectl lws ARGS`` through the real root command and its error mapping."""
    full_env = {"NO_COLOR": "1", "KUBECONFIG": kubeconfig or os.environ.get("KUBECONFIG", "")}
    if env:
        full_env.update(env)
    runner = CliRunner()
    result = runner.invoke(cli, list(args), env=full_env, input=input, prog_name="kubectl lws")
    return CliResult(result.exit_code, result.stdout, result.stderr)
