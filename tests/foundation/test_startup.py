"""`--help` and `version` must not import the kubernetes client (start-up budget, issue #2)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from kubectl_lws.cli import cli
try:
    cli.main(args={args!r}, prog_name="kubectl lws")
except SystemExit as exc:
    code = exc.code
print("\\nEXIT", code, "kubernetes" in sys.modules, "rich" in sys.modules)
"""


@pytest.mark.parametrize("args", [["--help"], ["version"], ["version", "-o", "json"]])
def test_light_commands_do_not_load_the_client(args: list[str]) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True,
                         check=True).stdout
    last = out.strip().splitlines()[-1]
    assert last == "EXIT 0 False False", out


def test_python_dash_m_entry_point() -> None:
    out = subprocess.run([sys.executable, "-m", "kubectl_lws", "version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("kubectl-lws: ")
