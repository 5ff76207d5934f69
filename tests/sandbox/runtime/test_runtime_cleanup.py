"""Stopping the sandbox removes what execs left running (issue 3: processes are removed on shutdown)."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import start_sandbox

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
pytestmark = pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl is not installed")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_stop_kills_processes_an_exec_left_in_the_background(tmp_path: Path) -> None:
    sb = start_sandbox()
    pids: list[int] = []
    try:
        sb.ensure_namespace("t")
        sb.create("pods", {"metadata": {"name": "p", "namespace": "t"},
                           "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "x"}]}})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pod = sb.get("pods", "t", "p") or {}
            if "running" in (((pod.get("status") or {}).get("containerStatuses") or [{}])[0].get("state") or {}):
                break
            time.sleep(0.05)
        kc = sb.write_kubeconfig(tmp_path / "kc.yaml")
        # The exec returns at once; its backgrounded child keeps running (as it would in a container).
        r = subprocess.run([KUBECTL, "--kubeconfig", kc, "-n", "t", "exec", "p", "--", "sh", "-c",
                            "sleep 300 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        pids.append(int(r.stdout.strip()))
        assert _alive(pids[0])
    finally:
        sb.stop()
    deadline = time.monotonic() + 5
    while _alive(pids[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    leaked = _alive(pids[0])
    if leaked:
        os.kill(pids[0], 9)
    assert not leaked, "a process started by exec survived sandbox.stop()"
