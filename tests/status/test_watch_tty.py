"""``status --watch`` on a real pseudo-terminal: alternate screen, trimming, Ctrl-C -> 130."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

LWS_API = "/apis/leaderworkerset.x-k8s.io/v1"


@pytest.fixture(scope="module")
def many(sandbox, tmp_path_factory):
    """12 leader-only groups: more than a 20-line terminal can show."""
    sandbox.load_scenario({"nodes": [{"name": f"tty-{i}", "labels": {"topology.kubernetes.io/zone": "z1"}}
                                     for i in range(2)], "namespaces": ["st-tty"]})
    body = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": "many", "namespace": "st-tty"},
            "spec": {"replicas": 12, "leaderWorkerTemplate": {"size": 1, "workerTemplate": {"spec": {
                "containers": [{"name": "main", "image": "ghcr.io/example/app:1",
                                "resources": {"requests": {"cpu": "10m"}}}]}}}}}
    req = urllib.request.Request(sandbox.url + f"{LWS_API}/namespaces/st-tty/leaderworkersets",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {sandbox.admin_token}"})
    urllib.request.urlopen(req, timeout=10).read()
    sandbox.wait_settled(30)
    return sandbox.write_kubeconfig(tmp_path_factory.mktemp("kc") / "kc.yaml", namespace="st-tty")


def run_on_pty(args: list[str], *, interrupt_on: str | None = None, limit: float = 30.0) -> tuple[int, str]:
    """Run the CLI on a pty; ``interrupt_on``: send SIGINT once this text has been drawn."""
    master, slave = pty.openpty()
    env = {**os.environ, "LINES": "20", "COLUMNS": "100", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", *args], stdin=slave, stdout=slave,
                            stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = b""
    started = time.monotonic()
    sent = False
    try:
        while time.monotonic() - started < limit:
            if interrupt_on is not None and not sent and interrupt_on in out.decode("utf-8", "replace"):
                proc.send_signal(signal.SIGINT)
                sent = True
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, out.decode("utf-8", "replace")


def test_tty_watch_redraws_in_alternate_screen_trimmed(many):
    code, out = run_on_pty(["--kubeconfig", many, "status", "many", "-w", "--timeout", "5s"])
    assert code == 0, out
    assert "\x1b[?1049h" in out and out.rstrip().endswith("\x1b[?1049l")
    assert "\x1b[H\x1b[2J" in out  # redraw in place, not scrolling
    last = out.split("\x1b[H\x1b[2J")[-1]
    assert "... " in last and "more groups" in last
    screen_lines = last.split("\x1b[?25h")[0].rstrip("\r\n").splitlines()
    assert len(screen_lines) <= 20


def test_tty_watch_ctrl_c_exits_130_and_restores_screen(many):
    code, out = run_on_pty(["--kubeconfig", many, "status", "many", "-w"], interrupt_on="more groups")
    assert code == 130, out
    assert "\x1b[?1049l" in out
    assert "interrupted" in out.split("\x1b[?1049l")[-1]
