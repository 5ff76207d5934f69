"""What execs leave running in the background ends with its pod, and at the latest when the sandbox stops
(issue 3: processes are removed on shutdown)."""
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


def _running_pod(sb, name: str) -> None:
    sb.create("pods", {"metadata": {"name": name, "namespace": "t"},
                       "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "x"}]}})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pod = sb.get("pods", "t", name) or {}
        if "running" in (((pod.get("status") or {}).get("containerStatuses") or [{}])[0].get("state") or {}):
            return
        time.sleep(0.05)
    raise AssertionError(f"pod {name} did not start")


def _background_sleep(kc: str, pod: str) -> int:
    """The exec returns at once; its backgrounded child keeps running (as it would in a container)."""
    r = subprocess.run([KUBECTL, "--kubeconfig", kc, "-n", "t", "exec", pod, "--", "sh", "-c",
                        "sleep 300 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    pid = int(r.stdout.strip())
    assert _alive(pid)
    return pid


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, 9)
        return False
    return True


@pytest.mark.parametrize("network", ["off", "auto"])  # host namespace, and per-pod netns where possible
def test_exec_leftovers_end_with_their_pod_and_with_the_sandbox(tmp_path: Path, network: str) -> None:
    sb = start_sandbox(network=network)
    pids: list[int] = []
    try:
        sb.ensure_namespace("t")
        _running_pod(sb, "doomed")
        _running_pod(sb, "kept")
        kc = sb.write_kubeconfig(tmp_path / "kc.yaml")
        pids = [_background_sleep(kc, "doomed"), _background_sleep(kc, "kept")]
        r = subprocess.run([KUBECTL, "--kubeconfig", kc, "-n", "t", "delete", "pod", "doomed", "--grace-period=0",
                            "--force"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert _gone_within(pids[0], 5), "a process started by exec survived the deletion of its pod"
        assert _alive(pids[1]), "deleting one pod killed another pod's process"
    finally:
        sb.stop()
    assert pids and _gone_within(pids[1], 5), "a process started by exec survived sandbox.stop()"
