"""``status --watch`` on a real pseudo-terminal: alternate screen, trimming, Ctrl-C -> 130."""

from __future__ import annotations

import json
import os
import urllib.request

import pytest

from cliutil import run_on_pty

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
