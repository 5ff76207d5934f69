"""A small sandbox shared by the hardening tests: namespace ``hard`` with ``web`` (2 groups of 2) and
``victim`` (1 group of 1), so a test can check that a hostile name never reaches another object."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from conftest import scenario_sandbox
from golden import basic_lws_manifest

NS = "hard"


@pytest.fixture(scope="package")
def hard() -> Iterator[object]:
    scenario = {"namespaces": [NS],
                "nodes": [{"name": f"hard-{i}"} for i in range(3)],
                "objects": [basic_lws_manifest("web", NS, replicas=2, size=2),
                            basic_lws_manifest("victim", NS, replicas=1, size=1),
                            basic_lws_manifest("enc", NS, replicas=1, size=1)]}
    with scenario_sandbox(scenario) as sb:
        yield sb


@pytest.fixture
def kc(hard, tmp_path: Path) -> str:  # noqa: ANN001
    return hard.write_kubeconfig(tmp_path / "kc.yaml", namespace=NS)


@pytest.fixture
def proc():
    """``proc(args, kubeconfig=..., env=..., shell_pipe="head -1")`` -> CompletedProcess."""
    return run_proc


def run_proc(args: list[str], *, kubeconfig: str | None = None, env: dict[str, str] | None = None,
             timeout: float = 60, shell_pipe: str | None = None) -> subprocess.CompletedProcess:
    """The real console entry point in a subprocess (real pipes, real terminal encoding)."""
    full = {**os.environ, "NO_COLOR": "1"}
    if kubeconfig:
        full["KUBECONFIG"] = kubeconfig
    full.update(env or {})
    argv = [sys.executable, "-m", "kubectl_lws", *args]
    if shell_pipe:
        import shlex

        cmd = " ".join(shlex.quote(a) for a in argv) + f" | {shell_pipe}; exit ${{PIPESTATUS[0]}}"
        return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=full, timeout=timeout)
    return subprocess.run(argv, capture_output=True, text=True, env=full, timeout=timeout)
